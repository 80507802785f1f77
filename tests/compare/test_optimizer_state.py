"""Optimizer state by role: the names real TF1, tf-keras and Keras 3 optimizers give their
state, classified; the ground truth is each framework's own slot API (``get_slot`` in TF1,
the optimizer's per-role variable lists in Keras), not the tables under test."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tftrace.compare.optimizer_state import (accumulator_from_keras_momentum,
                                             beta_power_from_step, classify, conversion)

#: TF1 slot names (``Optimizer.get_slot_names()``) and what they hold.
TF1_SLOT_ROLES = {"m": "first_moment", "v": "second_moment", "momentum": "momentum",
                  "rms": "second_moment", "mg": "mean_gradient", "accumulator": "accumulator",
                  "accum": "accumulator", "accum_update": "accumulated_update",
                  "linear": "linear"}
TF1_OPTIMIZERS = {
    "Adam": lambda: tf.compat.v1.train.AdamOptimizer(0.1),
    "Momentum": lambda: tf.compat.v1.train.MomentumOptimizer(0.1, 0.9),
    "RMSProp": lambda: tf.compat.v1.train.RMSPropOptimizer(0.1, momentum=0.9),
    "RMSProp-centered": lambda: tf.compat.v1.train.RMSPropOptimizer(0.1, momentum=0.9,
                                                                   centered=True),
    "Adagrad": lambda: tf.compat.v1.train.AdagradOptimizer(0.1),
    "Adadelta": lambda: tf.compat.v1.train.AdadeltaOptimizer(0.1),
    "Ftrl": lambda: tf.compat.v1.train.FtrlOptimizer(0.1),
    "GradientDescent": lambda: tf.compat.v1.train.GradientDescentOptimizer(0.1),
}


@pytest.mark.parametrize("optimizer", list(TF1_OPTIMIZERS), ids=list(TF1_OPTIMIZERS))
def test_tf1_slots_are_classified_by_role(optimizer):
    graph = tf.Graph()
    with graph.as_default():
        with tf.compat.v1.variable_scope("net"):
            kernel = tf.compat.v1.get_variable("dense/kernel", (3, 2))
            bias = tf.compat.v1.get_variable("dense/bias", (2,))
        loss = tf.reduce_sum(tf.matmul(tf.ones((1, 3)), kernel) + bias)
        opt = TF1_OPTIMIZERS[optimizer]()
        opt.minimize(loss, global_step=tf.compat.v1.train.get_or_create_global_step())
        names = [v.name for v in tf.compat.v1.global_variables()]
    states = classify(names)
    expected = {opt.get_slot(var, slot).name: (TF1_SLOT_ROLES[slot], var.name[:-2])
                for var in (kernel, bias) for slot in opt.get_slot_names()}
    expected["global_step:0"] = ("step", None)
    if optimizer == "Adam":
        expected.update({"beta1_power:0": ("beta1_power", None), "beta2_power:0": ("beta2_power", None)})
    assert {n: (s.role, s.target) for n, s in states.items()} == expected
    assert {s.family for s in states.values()} == {"tf1"}
    assert kernel.name not in states and bias.name not in states


KERAS_ROLE_LISTS = {  # optimizer -> {attribute holding the slots: role}
    "Adam": {"_momentums": "first_moment", "_velocities": "second_moment"},
    "SGD": {"momentums": "momentum"},
    "RMSprop": {"_velocities": "second_moment", "_momentums": "momentum",
                "_average_gradients": "mean_gradient"},
    "Adagrad": {"_accumulators": "accumulator"},
    "Adadelta": {"_accumulated_grads": "accumulator", "_accumulated_delta_vars": "accumulated_update"},
    "Ftrl": {"_accumulators": "accumulator", "_linears": "linear"},
}
OPTIONS = {"SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.9, "centered": True}}


def _name(variable) -> str:
    path = getattr(variable, "path", None)  # Keras 3 variables; tftrace records the path
    return path if isinstance(path, str) else variable.name


@pytest.mark.parametrize("family", ["keras3", "tf_keras"], ids=["keras3", "tf-keras"])
@pytest.mark.parametrize("optimizer", list(KERAS_ROLE_LISTS), ids=list(KERAS_ROLE_LISTS))
def test_keras_slots_are_classified_by_role(family, optimizer):
    if family == "keras3":
        model_vars = [keras.Variable(np.zeros((3, 2), np.float32), name="kernel"),
                      keras.Variable(np.zeros((2,), np.float32), name="bias")]
        opt = getattr(keras.optimizers, optimizer)(**OPTIONS.get(optimizer, {}))
    else:
        model_vars = [tf.Variable(tf.zeros((3, 2)), name="dense/kernel"),
                      tf.Variable(tf.zeros((2,)), name="dense/bias")]
        opt = getattr(tf_keras.optimizers, optimizer)(**OPTIONS.get(optimizer, {}))
    opt.build(model_vars)
    names = [_name(v) for v in model_vars] + [_name(v) for v in opt.variables]
    states = classify(names)
    expected = {}
    for attribute, role in KERAS_ROLE_LISTS[optimizer].items():
        for model_var, slot in zip(model_vars, getattr(opt, attribute)):
            expected[_name(slot)] = (role, _name(model_var).removesuffix(":0"))
    expected[_name(opt.iterations)] = ("step", None)
    for v in opt.variables:
        if "learning_rate" in _name(v):
            expected[_name(v)] = ("learning_rate", None)
    assert {n: (s.role, s.target) for n, s in states.items()} == expected
    assert {s.family for s in states.values()} == {family}


def test_model_variables_named_like_state_are_not_state_without_their_variable():
    # `m/x` is a tf-keras slot only when `x` is a variable of the same trace.
    assert classify(["m/x:0", "net/Adam:0", "adam/y_momentum"]) == {}


def test_conversions_follow_the_update_rules():
    # TF1 Adam: beta1_power starts at beta1 and is multiplied by beta1 after each update.
    power = np.float32(0.9)
    for step in range(1, 6):
        power = np.float32(power * np.float32(0.9))
        assert beta_power_from_step(np.int64(step), 0.9) == pytest.approx(power, rel=1e-6)
    # Keras SGD: m = mu * m - lr * g; TF1 Momentum: a = mu * a + g (constant lr).
    rng = np.random.default_rng(0)
    m = a = np.zeros(4)
    for _ in range(5):
        g = rng.standard_normal(4)
        m, a = 0.9 * m - 0.01 * g, 0.9 * a + g
    np.testing.assert_allclose(accumulator_from_keras_momentum(m, 0.01), a, rtol=1e-12)


def test_which_pairs_need_a_conversion():
    states = classify(["w:0", "w/Adam:0", "w/Momentum:0", "beta1_power:0"])
    keras3 = classify(["w", "adam/iteration", "adam/w_momentum", "sgd/w_momentum"])
    assert conversion(states["w/Adam:0"], keras3["adam/w_momentum"]) is None
    assert conversion(states["beta1_power:0"], keras3["adam/iteration"]).code == "beta_power"
    assert conversion(states["w/Momentum:0"], keras3["sgd/w_momentum"]).code == "negative_lr"
