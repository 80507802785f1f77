"""The environment record of a trace: versions, machine, command line, seeds."""

from __future__ import annotations

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
        "command_line": list(sys.argv),
        "seed": seed,
        "seed_mode": seed_mode,
        "capture": capture,
        "eager": tf.executing_eagerly(),
    }
