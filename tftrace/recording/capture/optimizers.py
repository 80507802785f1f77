"""Optimizer capture: the hyperparameters an optimizer used at each step, as ``optimizer`` events.

Hooked while recording: Keras 3 ``BaseOptimizer.apply`` (``apply_gradients`` and ``fit``
go through it), tf-keras ``Optimizer.apply_gradients`` (and the legacy ``OptimizerV2``),
``tf.compat.v1.train.Optimizer.apply_gradients`` (and so ``minimize``).

Each event is named by the hyperparameter's role, the same for every family, so a TF1
``AdamOptimizer`` and a Keras ``Adam`` pair: ``learning_rate`` (after its schedule, the rate
this step uses), ``momentum``, ``nesterov``, ``beta_1``, ``beta_2``, ``epsilon``, ``rho``,
``weight_decay``... Values are float64 scalars (bools for flags). Inside a ``tf.function``
or a TF1 graph, the tensor-valued ones (the learning rate at least) are observed on every
execution; the Python-valued ones are emitted with the learning rate, so every step has all.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tftrace.format.events import EventKind, OptimizerAttrs
from tftrace.recording.patches import Patches
from tftrace.recording.capture.sink import CaptureSink, deliver, mode_of

KERAS3_MODULE = "keras.src.optimizers.base_optimizer"
TF_KERAS_MODULE = "tf_keras.src.optimizers.optimizer"
TF_KERAS_LEGACY_MODULE = "tf_keras.src.optimizers.legacy.optimizer_v2"
TF1_MODULE = "tensorflow.python.training.optimizer"
#: Keras 2.13-2.15 (TensorFlow 2.15's tf.keras): the code tf-keras was forked from.
KERAS2_MODULE = "keras.src.optimizers.optimizer"
KERAS2_LEGACY_MODULE = "keras.src.optimizers.legacy.optimizer_v2"

#: Keras (3 and tf-keras) attribute -> role.
KERAS_HYPERPARAMETERS = {"momentum": "momentum", "nesterov": "nesterov", "beta_1": "beta_1",
                         "beta_2": "beta_2", "epsilon": "epsilon", "rho": "rho",
                         "weight_decay": "weight_decay", "amsgrad": "amsgrad",
                         "initial_accumulator_value": "initial_accumulator_value"}
#: tf.compat.v1.train optimizers: role -> attributes holding it after ``_prepare`` (first found).
TF1_HYPERPARAMETERS = {
    "learning_rate": ("_lr_t", "_learning_rate_tensor"),
    "momentum": ("_momentum_tensor",),
    "nesterov": ("_use_nesterov",),
    "beta_1": ("_beta1_t",),
    "beta_2": ("_beta2_t",),
    "epsilon": ("_epsilon_t", "_epsilon_tensor"),
    "rho": ("_decay_tensor",),
    "initial_accumulator_value": ("_initial_accumulator_value",),
}


class OptimizerCapture:
    """Wraps the optimizers' apply methods while installed."""

    def __init__(self, sink: CaptureSink, level: str,
                 after_import: Callable[[str, Callable[[Any], None]], None]) -> None:
        self._sink = sink
        self._level = level
        self._after_import = after_import
        self._local = threading.local()
        self._patches = Patches()

    def install(self) -> None:
        if self._level == "off":
            return
        self._after_import(KERAS3_MODULE, lambda m: self._wrap(m.BaseOptimizer, "apply", "keras3",
                                                               before=True))
        self._after_import(TF_KERAS_MODULE, lambda m: self._wrap(m._BaseOptimizer, "apply_gradients",
                                                                 "tf-keras", before=True))
        self._after_import(TF_KERAS_LEGACY_MODULE,
                           lambda m: self._wrap(m.OptimizerV2, "apply_gradients", "tf-keras-legacy",
                                                before=True))
        # Keras 3 has a module of that name too, without the class
        self._after_import(KERAS2_MODULE, lambda m: self._wrap(getattr(m, "_BaseOptimizer", None),
                                                               "apply_gradients", "keras2", before=True))
        self._after_import(KERAS2_LEGACY_MODULE,
                           lambda m: self._wrap(getattr(m, "OptimizerV2", None), "apply_gradients",
                                                "keras2-legacy",
                                                before=True))
        self._after_import(TF1_MODULE, lambda m: self._wrap(m.Optimizer, "apply_gradients", "tf1",
                                                            before=False))

    def uninstall(self) -> None:
        self._patches.restore()

    def _wrap(self, cls: Any, method: str, family: str, before: bool) -> None:
        original = vars(cls).get(method) if cls is not None else None
        if original is None:
            return
        capture = self

        def apply(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            outer = getattr(capture._local, "inside", False)
            if outer or not capture._sink.active:
                return original(optimizer, *args, **kwargs)
            capture._local.inside = True
            try:
                if before:  # Keras: the rate this step uses, read before the step counts
                    values = _keras_hyperparameters(optimizer)
                result = original(optimizer, *args, **kwargs)
                if not before:  # TF1: _prepare() made the tensors while applying
                    values = _tf1_hyperparameters(optimizer)
            finally:
                capture._local.inside = False
            capture._record(optimizer, family, values)
            return result

        apply.__wrapped__ = original  # type: ignore[attr-defined]
        apply.__doc__ = original.__doc__
        self._patches.patch(cls, method, apply, wraps=False)

    def _record(self, optimizer: Any, family: str, values: dict[str, Any]) -> None:
        sink = self._sink
        tensors = {role: v for role, v in values.items() if isinstance(v, tf.Tensor)}
        constants = {role: v for role, v in values.items() if role not in tensors}
        name = type(optimizer).__name__
        symbolic = {role: t for role, t in tensors.items() if mode_of(t) != "eager"}

        def emit(role: str, value: Any, mode: str) -> None:
            array = np.asarray(value)
            array = array.astype(np.bool_ if array.dtype == np.bool_ else np.float64)
            sink.emit(EventKind.OPTIMIZER, role, array,
                      OptimizerAttrs(optimizer=name, family=family, hyperparameter=role, mode=mode,
                                     scheduled=role == "learning_rate" and _has_schedule(optimizer)))

        if not symbolic:
            for role in _ordered(values):
                value = values[role]
                emit(role, value.numpy() if isinstance(value, tf.Tensor) else value, "eager")
            return
        # Graph values arrive per execution: the first one brings the Python-valued ones.
        roles = _ordered(symbolic)
        first = roles[0]
        mode = mode_of(symbolic[first])
        for role in roles:
            def on_value(array: Any, role: str = role) -> None:
                emit(role, array, mode)
                if role == first:
                    for other in _ordered(constants):
                        emit(other, constants[other], mode)
                    for other in _ordered(tensors):
                        if other not in symbolic:
                            emit(other, tensors[other].numpy(), mode)
            deliver(sink, "optimizer", role, symbolic[role], on_value)


def _ordered(values: dict[str, Any]) -> list[str]:
    order = ["learning_rate", *KERAS_HYPERPARAMETERS.values()]
    return sorted(values, key=lambda role: order.index(role) if role in order else len(order))


def _has_schedule(optimizer: Any) -> bool:
    raw = getattr(optimizer, "_learning_rate", None)
    return callable(raw) and not isinstance(raw, tf.Variable) and not hasattr(raw, "assign")


def _keras_hyperparameters(optimizer: Any) -> dict[str, Any]:
    """Keras 3, tf-keras and tf-keras legacy: role -> tensor or Python value."""
    values: dict[str, Any] = {}
    if hasattr(optimizer, "_decayed_lr"):  # tf-keras legacy OptimizerV2
        values["learning_rate"] = optimizer._decayed_lr(tf.float32)
        hyper = getattr(optimizer, "_hyper", {})
        for key in ("momentum", "beta_1", "beta_2", "rho"):
            if key in hyper:
                values[key] = _as_value(optimizer._get_hyper(key))
    else:
        raw = getattr(optimizer, "_learning_rate", None)
        if raw is not None and _has_schedule(optimizer):
            values["learning_rate"] = _as_value(raw(optimizer.iterations))
        else:
            values["learning_rate"] = _as_value(raw if raw is not None else optimizer.learning_rate)
    for attr, role in KERAS_HYPERPARAMETERS.items():
        if role in values:
            continue
        value = getattr(optimizer, attr, None)
        if value is None or callable(value):
            continue
        values[role] = _as_value(value)
    return {role: v for role, v in values.items() if v is not None}


def _tf1_hyperparameters(optimizer: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for role, attrs in TF1_HYPERPARAMETERS.items():
        for attr in attrs:
            value = getattr(optimizer, attr, None)
            if value is not None:
                values[role] = _as_value(value)
                break
    return {role: v for role, v in values.items() if v is not None}


def _as_value(value: Any) -> Any:
    """A tensor (variables read), or a Python / numpy scalar."""
    if isinstance(value, (bool, int, float, np.generic)):
        return value
    inner = getattr(value, "value", None)
    if not isinstance(value, tf.Variable) and isinstance(inner, tf.Variable):
        value = inner  # a Keras 3 variable
    if isinstance(value, tf.Variable):
        return tf.convert_to_tensor(value)
    if isinstance(value, tf.Tensor):
        return value
    try:
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError):
        return None
