"""Shared helpers of the port pair programs: environment and the recording wrapper.

Import this module before TensorFlow: it sets ``TF_USE_LEGACY_KERAS=1`` (the
``track_tf1_style_variables`` shim and ``tf.keras`` = tf-keras; Keras 3 stays
``import keras``) and quiets TensorFlow's C++ logging.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
from typing import Any, Callable, Iterator, Sequence  # noqa: E402

import tftrace  # noqa: E402

#: The directory holding the port_pairs package (for subprocesses' PYTHONPATH).
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 42


@contextlib.contextmanager
def recording(path: str, source: str | None = None, **options: Any) -> Iterator[Any]:
    """``tftrace.record(path)``, or ``tftrace.replay(source, record_to=path)`` when a
    source trace is given; always overwriting, seed 42, full capture. Keras' global state
    is reset first, so layer names do not depend on what ran before in this process."""
    reset_keras()
    options.setdefault("seed", SEED)
    if source is None:
        with tftrace.record(path, overwrite=True, **options) as rec:
            yield rec
    else:
        with tftrace.replay(source, record_to=path, overwrite=True, **options) as rec:
            yield rec


def record(path: str, run: Callable[[Any], None], source: str | None = None,
           rename: Sequence[tuple[str, str]] = ()) -> str:
    """Record ``run(recorder)`` into ``path`` (a replay of ``source`` when given, with
    ``rename`` for its variable names) and return ``path``: one side of a pair program."""
    options: dict[str, Any] = {"rename": list(rename)} if rename else {}
    with recording(path, source=source, **options) as rec:
        run(rec)
    return path


def reset_keras() -> None:
    """Forget Keras' global state between scenarios run in one process (layer-name
    counters, dtype policies): names like ``dense_1`` would otherwise depend on what ran
    before."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    tf.keras.backend.clear_session()
    tf.keras.mixed_precision.set_global_policy("float32")
