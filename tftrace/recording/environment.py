"""The environment record of a trace: versions, machine, command line, seeds."""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Any, Iterable

import numpy as np
import tensorflow as tf

import tftrace


#: Where each Keras's layers live, and the package a version is read from.
_KERAS_PACKAGES = {"keras": "keras", "tf_keras": "tf_keras", "tensorflow": "tensorflow.python.keras"}


def keras_version(used: Iterable[str] = ()) -> str | None:
    """The Keras the program uses: those whose layers it called, else those it imported.

    A program may import several (tf_keras comes with tf-slim and ``tf.compat.v1.layers``
    helpers, Keras 3 with ``tf.keras``); the one whose layers were called is the one its
    numbers depend on. ``used`` holds top-level package names (``keras``, ``tf_keras``,
    ``tensorflow`` for the legacy layers inside TensorFlow).
    """
    used = set(used)
    names = [name for name in _KERAS_PACKAGES if name in used] or \
        [name for name in ("keras", "tf_keras") if name in sys.modules]
    described = []
    for name in names:
        if name == "tensorflow":
            described.append(f"tensorflow.python.keras (TensorFlow {tf.__version__})")
            continue
        version = getattr(sys.modules.get(name), "__version__", None)
        if isinstance(version, str):
            described.append(f"{name} {version}")
    return ", ".join(described) or None


def _devices() -> list[str]:
    try:
        return [f"{d.device_type}:{d.name}" for d in tf.config.list_logical_devices()]
    except RuntimeError:  # context already configured in an incompatible way
        return []


#: CPU features that change which kernels TensorFlow and oneDNN run (and so the last bits).
KERNEL_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni")
KERNEL_FLAG_PREFIXES = ("avx512", "amx")
#: Environment variables that change kernels, fusions or threads.
TF_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                "OMP_NUM_THREADS", "TF_DETERMINISTIC_OPS", "TF_XLA_FLAGS", "TF_USE_LEGACY_KERAS")


def cpu() -> dict[str, Any]:
    """The CPU model and the instruction-set flags kernels depend on (Linux /proc/cpuinfo)."""
    model: str | None = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    model = model or platform.processor() or None
    kernel_flags = sorted(f for f in flags
                          if f in KERNEL_FLAGS or f.startswith(KERNEL_FLAG_PREFIXES))
    return {"model": model, "flags": kernel_flags, "count": os.cpu_count(),
            "machine": platform.machine()}


def onednn_opts() -> bool | None:
    """Whether TensorFlow's oneDNN kernels and fusions are on, or None when unknown.

    ``TF_ENABLE_ONEDNN_OPTS`` decides when set; unset, they are on by default on Linux
    x86-64 (TensorFlow 2.9 and later), the only default this can state with confidence.
    (``_pywrap_util_port.IsMklEnabled`` says whether TensorFlow was *built* with
    ``--config=mkl``: False for the PyPI wheels even when oneDNN kernels run.)
    """
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if setting is not None:
        return setting.strip().lower() in ("1", "true", "yes", "on")
    if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
        return True
    return None


def dtype_policies() -> dict[str, str] | None:
    """The global dtype policy of each Keras the program imported (``mixed_bfloat16`` and
    ``mixed_float16`` compute in 16 bits), or None when neither is imported."""
    policies: dict[str, str] = {}
    keras3 = sys.modules.get("keras")
    try:
        if keras3 is not None and hasattr(keras3, "config"):
            policies["keras"] = str(keras3.config.dtype_policy().name)
    except (AttributeError, RuntimeError, TypeError):
        pass
    tf_keras = sys.modules.get("tf_keras")
    try:
        if tf_keras is not None:
            policies["tf_keras"] = str(tf_keras.mixed_precision.global_policy().name)
    except (AttributeError, RuntimeError, TypeError):
        pass
    return policies or None


def threading_and_kernels() -> dict[str, Any]:
    """oneDNN, thread pools, op determinism, Grappler options and auto-jit, Keras dtype
    policies, and the TF_*
    variables that set them (read again when the recording ends: the program may set them)."""
    onednn = onednn_opts()
    try:
        from tensorflow.python.framework import config
        determinism = bool(config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        determinism = None
    try:
        grappler: dict[str, Any] | None = dict(tf.config.optimizer.get_experimental_options())
    except (AttributeError, RuntimeError):
        grappler = None
    try:
        jit: Any = tf.config.optimizer.get_jit()
    except (AttributeError, RuntimeError):
        jit = None
    return {
        "onednn": onednn,
        "grappler_options": grappler,
        "jit": jit if isinstance(jit, (bool, str)) or jit is None else str(jit),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "op_determinism": determinism,
        "dtype_policy": dtype_policies(),
        "variables": {name: os.environ.get(name) for name in TF_VARIABLES},
    }


def collect(*, seed: int, seed_mode: str, capture: str) -> dict[str, Any]:
    """Environment fields known when a recording starts (msgpack-able)."""
    return {
        "tftrace_version": tftrace.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras_version(),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "devices": _devices(),
        "host": socket.gethostname(),
        "cpu": cpu(),
        "kernels": threading_and_kernels(),
        "command_line": list(sys.argv),
        "seed": seed,
        "seed_mode": seed_mode,
        "capture": capture,
        "eager": tf.executing_eagerly(),
    }
