"""Optimizer state by meaning: which variables are an optimizer's state, their role, and
how the same role is stored by TF1, tf-keras and Keras 3 (pure data and functions).

TF1 (``tf.compat.v1.train``) names a slot ``<variable>/<OptimizerName>[_k]`` and keeps
Adam's step as the powers ``beta1_power`` / ``beta2_power``; tf-keras names it
``[<Opt>/]<slot>/<variable>`` beside ``iteration`` and ``current_learning_rate``; Keras 3
names it ``<opt>/<variable path with / and : as _>_<slot>`` beside ``<opt>/iteration``
and ``<opt>/learning_rate``. The roles below pair them; :data:`CONVERSIONS` says how two
roles that hold related quantities compare (``beta1_power`` after ``t`` updates is
``beta1 ** (t + 1)``; Keras' momentum is ``-learning_rate`` times TF1's accumulator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

#: Roles, in the words of the report.
ROLES = ("first_moment", "second_moment", "second_moment_max", "momentum", "mean_gradient",
         "accumulator", "accumulated_update", "linear", "step", "beta1_power", "beta2_power",
         "learning_rate")

#: TF1 ``tf.compat.v1.train`` optimizers: slot-name suffix -> (optimizer, slot, role).
#: The suffix is the optimizer's default ``name`` (``_1``, ``_2`` for its later slots).
TF1_SLOTS: Mapping[str, tuple[str, str, str]] = {
    "Adam": ("Adam", "m", "first_moment"),
    "Adam_1": ("Adam", "v", "second_moment"),
    "Momentum": ("Momentum", "momentum", "momentum"),
    "RMSProp": ("RMSProp", "rms", "second_moment"),
    "RMSProp_1": ("RMSProp", "momentum", "momentum"),  # "mg" when RMSProp_2 exists
    "RMSProp_2": ("RMSProp", "momentum", "momentum"),
    "Adagrad": ("Adagrad", "accumulator", "accumulator"),
    "Adadelta": ("Adadelta", "accum", "accumulator"),
    "Adadelta_1": ("Adadelta", "accum_update", "accumulated_update"),
    "Ftrl": ("Ftrl", "accum", "accumulator"),
    "Ftrl_1": ("Ftrl", "linear", "linear"),
}
#: TF1 state that is not a slot: (optimizer, role). ``global_step`` counts the updates
#: when passed to ``minimize`` / ``apply_gradients``.
TF1_GLOBALS: Mapping[str, tuple[str, str]] = {
    "beta1_power": ("Adam", "beta1_power"), "beta2_power": ("Adam", "beta2_power"),
    "global_step": ("", "step"),
}
#: tf-keras (``tf_keras.optimizers``) slot names -> role; ``m`` is SGD's momentum when
#: the optimizer has no ``v`` slot (see :func:`classify`).
TF_KERAS_SLOTS: Mapping[str, str] = {
    "m": "first_moment", "v": "second_moment", "vhat": "second_moment_max",
    "velocity": "second_moment", "momentum": "momentum", "average_gradient": "mean_gradient",
    "accumulator": "accumulator", "accumulated_grad": "accumulator",
    "accumulated_delta_var": "accumulated_update", "linear": "linear",
}
TF_KERAS_GLOBALS: Mapping[str, str] = {
    "iteration": "step", "iterations": "step", "current_learning_rate": "learning_rate",
    "learning_rate": "learning_rate",
}
#: Keras 3 slot suffixes (``add_variable_from_reference(var, name)``) -> role, per
#: optimizer (the default optimizer name is its class name in lower case).
KERAS3_SLOTS: Mapping[str, str] = {
    "momentum": "first_moment", "velocity": "second_moment", "velocity_hat": "second_moment_max",
    "average_gradient": "mean_gradient", "accumulator": "accumulator",
    "accumulated_grad": "accumulator", "accumulated_delta_var": "accumulated_update",
    "linear": "linear",
}
#: Keras 3 optimizers whose ``momentum`` slot is a momentum accumulator, and whose
#: ``velocity`` is RMSprop's mean square (not Adam's moments).
KERAS3_MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop", "rm_sprop", "lion")
KERAS3_GLOBALS: Mapping[str, str] = {"iteration": "step", "iterations": "step",
                                    "learning_rate": "learning_rate"}

#: Roles that one family keeps and another has no variable for: not a divergence when
#: unpaired (TF1 takes the learning rate as a tensor; Keras counts steps, TF1 Adam keeps
#: powers). The report says they were not compared, and why.
OPTIONAL_ROLES = ("learning_rate", "step", "beta1_power", "beta2_power")


@dataclass(frozen=True)
class StateName:
    """What a variable name says about optimizer state.

    ``family`` is ``"tf1"``, ``"tf_keras"`` or ``"keras3"``; ``target`` the model
    variable a slot belongs to (its name in the same trace, ``:0`` removed), None for
    the optimizer's own state (step, powers, learning rate).
    """

    name: str
    family: str
    optimizer: str
    role: str
    target: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"family": self.family, "optimizer": self.optimizer, "role": self.role,
                "target": self.target}


def mangle(name: str) -> str:
    """Keras 3's slot-name form of a variable name: ``/`` and ``:`` as ``_``."""
    return re.sub(r"[/:]", "_", name)


def _strip(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def classify(names: Iterable[str]) -> dict[str, StateName]:
    """The optimizer state among one trace's variable names.

    Parameters
    ----------
    names : iterable of str
        Every variable name of a trace (with or without ``:0``).

    Returns
    -------
    dict
        ``{name: StateName}`` for the names that are optimizer state; model variables
        are absent. A slot counts only when the variable it belongs to is in ``names``.
    """
    originals = list(dict.fromkeys(names))
    plain = {_strip(n): n for n in originals}
    out: dict[str, StateName] = {}
    # Keras 3 slots name the variable by its full name (``net_conv1_kernel_0``) or path.
    mangled: dict[str, str] = {}
    for name in plain:
        mangled.setdefault(mangle(plain[name]), name)
        mangled.setdefault(mangle(name), name)
    tf_keras_second = any(re.match(r"^(?:[^/]+/)?v/", n) for n in plain)
    for name, original in plain.items():
        state = _classify_one(name, plain, mangled, tf_keras_second)
        if state is not None:
            out[original] = StateName(original, *state)
    # A slot's target must be a model variable, not another optimizer's state.
    return {n: s for n, s in out.items() if s.target is None or plain.get(s.target) not in out}


def _classify_one(name: str, plain: Mapping[str, str], mangled: Mapping[str, str],
                  tf_keras_second: bool) -> tuple[str, str, str, str | None] | None:
    head, _, last = name.rpartition("/")
    # TF1: <variable>/<Optimizer>[_k]
    if head and last in TF1_SLOTS and head in plain:
        optimizer, _, role = TF1_SLOTS[last]
        if last == "RMSProp_1" and f"{head}/RMSProp_2" in plain:
            role = "mean_gradient"  # centered: slots rms, mg, momentum in creation order
        return "tf1", optimizer, role, head
    if name in TF1_GLOBALS or re.fullmatch(r"beta[12]_power_\d+", name):
        optimizer, role = TF1_GLOBALS.get(name) or TF1_GLOBALS[name.rsplit("_", 1)[0]]
        return "tf1", optimizer, role, None
    # tf-keras: [<Opt>/]<slot>/<variable>, iteration, current_learning_rate
    if name in TF_KERAS_GLOBALS:
        return "tf_keras", "", TF_KERAS_GLOBALS[name], None
    parts = name.split("/")
    for optimizer, slot, target in (("", parts[0], "/".join(parts[1:])),
                                    (parts[0], parts[1] if len(parts) > 2 else "", "/".join(parts[2:]))):
        if slot in TF_KERAS_SLOTS and target in plain:
            role = TF_KERAS_SLOTS[slot]
            if slot == "m" and not tf_keras_second:
                role = "momentum"  # SGD keeps its momentum in ``m``; Adam has ``v`` beside it
            return "tf_keras", optimizer, role, target
    # Keras 3: <opt>/<mangled variable>_<slot>, <opt>/iteration, <opt>/learning_rate
    if head and "/" not in head:
        if last in KERAS3_GLOBALS:
            return "keras3", head, KERAS3_GLOBALS[last], None
        for slot in sorted(KERAS3_SLOTS, key=len, reverse=True):
            if last.endswith("_" + slot):
                reference = mangled.get(last[:-len(slot) - 1])
                if reference is None:
                    continue
                role = KERAS3_SLOTS[slot]
                if head.lower() in KERAS3_MOMENTUM_OPTIMIZERS:
                    role = {"first_moment": "momentum"}.get(role, role)
                return "keras3", head, role, reference
    return None


# -- how two roles compare --------------------------------------------------------------
@dataclass(frozen=True)
class Conversion:
    """How a state of A compares with a state of B when they are not the same quantity.

    ``code``: ``"beta_power"`` (one side keeps ``beta ** (t + 1)``, the other the step
    count ``t``; beta is the power's initial value), ``"negative_lr"`` (Keras keeps
    ``-learning_rate`` times TF1's momentum accumulator; the rate is the Keras side's
    ``learning_rate`` at that step) or ``"not_comparable"`` (with ``reason``).
    """

    code: str
    reason: str = ""


def conversion(a: StateName, b: StateName) -> Conversion | None:
    """None when A's and B's roles hold the same quantity; else how they compare."""
    if a.role in ("beta1_power", "beta2_power") and b.role == "step" or \
            b.role in ("beta1_power", "beta2_power") and a.role == "step":
        return Conversion("beta_power")
    if a.role != b.role:
        return Conversion("not_comparable", "different-roles")
    tf1_side = (a.family == "tf1") != (b.family == "tf1")
    if a.role == "momentum" and tf1_side and "RMSProp" not in (a.optimizer, b.optimizer):
        return Conversion("negative_lr")
    if a.role == "second_moment" and tf1_side and "RMSProp" in (a.optimizer, b.optimizer):
        return Conversion("not_comparable", "tf1-rmsprop-initial")
    return None


def beta_power_from_step(step: np.ndarray, beta: float) -> np.ndarray:
    """TF1 Adam's ``beta_power`` after ``step`` updates: ``beta ** (step + 1)`` (TF1 starts
    the power at beta and multiplies it by beta after each update)."""
    return np.power(np.float64(beta), np.asarray(step, dtype=np.float64) + 1.0)


def accumulator_from_keras_momentum(momentum: np.ndarray, learning_rate: float) -> np.ndarray:
    """TF1 Momentum's accumulator from Keras' momentum slot: ``-momentum / learning_rate``
    (Keras: ``m = mu * m - lr * g``; TF1: ``a = mu * a + g``; equal for a constant rate)."""
    return -np.asarray(momentum, dtype=np.float64) / np.float64(learning_rate)
