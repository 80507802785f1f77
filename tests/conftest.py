"""Test-wide TensorFlow setup (see docs/recording.md, "Testing"), and the shared
trace builders, as fixtures.

``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported so that
``tf.compat.v1.keras.utils`` (tf-keras) provides ``track_tf1_style_variables`` and
``DeterministicRandomTestTool``, which the recording tests compare against.
Keras 3 stays importable as ``keras``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tftrace.format.writer import TraceWriter  # noqa: E402  (after the environment is set)


# -- trace builders: small traces written with the writer (no TensorFlow) -----------------
# for the diff, check and report tests; each is also a fixture of the same name.

def build_event(kind: str, name: str, value: Any = None, *, step: int = 0, **attrs: Any) -> dict[str, Any]:
    """One event to write: kind, name, value, step and attrs (call_site defaults to 'model.py:<n>')."""
    return {"kind": kind, "name": name, "value": value, "step": step, "attrs": attrs}


def build_variable(name: str, value: Any, trainable: bool = True, **attrs: Any) -> dict[str, Any]:
    return build_event("variable", name, np.asarray(value), trainable=trainable, **attrs)


def build_random_op(op_type: str, shape: tuple[int, ...], seed: int = 0, *, step: int = 0,
        value: Any = None, **attrs: Any) -> dict[str, Any]:
    """A random op whose values are derived from ``seed`` (so equal seeds give equal values)."""
    if value is None:
        value = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return build_event("random_op", f"{op_type}_{seed}", value, step=step, op_type=op_type, seed=[42, seed], **attrs)


def build_trace(path: Path, events: list[dict[str, Any]], *, complete: bool = True,
                capture: str = "full", environment: dict[str, Any] | None = None) -> Path:
    writer = TraceWriter.create(path, environment=environment or {"host": "test"}, capture=capture)
    for n, spec in enumerate(events):
        attrs = {"call_site": f"model.py:{10 + n}", **spec["attrs"]}
        writer.add_event(spec["kind"], spec["name"], step=spec["step"], value=spec["value"],
                         attrs=attrs)
    writer.close(complete=complete)
    return path


def build_weights(seed: int = 0) -> list[dict[str, Any]]:
    """A small dense net: kernel, bias, then an endpoint."""
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((4, 3)).astype(np.float32)
    return [build_variable("dense/kernel:0", kernel), build_variable("dense/bias:0", np.zeros(3, np.float32)),
            build_event("endpoint", "logits", rng.standard_normal((2, 3)).astype(np.float32))]


class TraceBuilders:
    """The builders under their short names (``ev``, ``var``, ``rnd``, ``weights``, ``write_trace``)."""

    ev = staticmethod(build_event)
    var = staticmethod(build_variable)
    rnd = staticmethod(build_random_op)
    weights = staticmethod(build_weights)
    write_trace = staticmethod(build_trace)


@pytest.fixture
def ev() -> Callable[..., dict[str, Any]]:
    return build_event


@pytest.fixture
def var() -> Callable[..., dict[str, Any]]:
    return build_variable


@pytest.fixture
def rnd() -> Callable[..., dict[str, Any]]:
    return build_random_op


@pytest.fixture
def weights() -> Callable[..., list[dict[str, Any]]]:
    return build_weights


@pytest.fixture
def write_trace() -> Callable[..., Path]:
    return build_trace


@pytest.fixture
def trace_builders() -> TraceBuilders:
    return TraceBuilders()


# -- the sample pairs' own checks (tests/sample_pairs.py), for test_samples and test_demo --

@pytest.fixture
def assert_inception_pair_matches() -> Callable[[Path, Path], None]:
    from tests import sample_pairs

    return sample_pairs.assert_inception_pair_matches


@pytest.fixture
def assert_bn_pitfall_pair() -> Callable[[Path, Path], None]:
    from tests import sample_pairs

    return sample_pairs.assert_bn_pitfall_pair
