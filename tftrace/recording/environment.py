"""The environment record of a trace: versions, machine, command line, seeds."""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Any

import numpy as np
import tensorflow as tf

import tftrace


def _keras_version() -> str | None:
    for module_name in ("tf_keras", "keras"):
        module = sys.modules.get(module_name)
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            return f"{module_name} {version}"
    return None


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


def threading_and_kernels() -> dict[str, Any]:
    """oneDNN, thread pools, op determinism, and the TF_* variables that set them."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        onednn = None
    try:
        from tensorflow.python.framework import config
        determinism = bool(config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        determinism = None
    return {
        "onednn": onednn,
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "op_determinism": determinism,
        "variables": {name: os.environ.get(name) for name in TF_VARIABLES},
    }


def collect(*, seed: int, seed_mode: str, capture: str) -> dict[str, Any]:
    """Environment fields known when a recording starts (msgpack-able)."""
    return {
        "tftrace_version": tftrace.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": _keras_version(),
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
