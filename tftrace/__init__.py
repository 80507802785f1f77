"""tftrace: record TensorFlow runs into traces and find where two runs first diverge.

Importing tftrace never imports TensorFlow: reading and diffing traces work
without it. Recording imports TensorFlow when a recording starts.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, ContextManager, Iterable

from tftrace.errors import TftraceError, UsageError

if TYPE_CHECKING:
    from tftrace.compare.result import DiffResult
    from tftrace.format.reader import Trace
    from tftrace.recording.recorder import Recorder

__version__ = "0.1.0"


def open(path: str | os.PathLike[str]) -> Trace:  # noqa: A001 - the public name in DESIGN.md
    """Open a trace for reading; needs no TensorFlow.

    Parameters
    ----------
    path : path-like
        A ``X.zarr`` directory or ``X.zarr.zip`` file.

    Returns
    -------
    Trace
        ``.environment``, ``.complete``, ``.events`` and ``.array(name, step=...)``.
    """
    from tftrace.format.reader import open_trace

    return open_trace(path)


def record(path: str | os.PathLike[str], *, seed: int = 42, seed_mode: str = "num_random_ops",
           capture: str = "full", overwrite: bool = False, layers: str = "stats",
           ops: str = "off", gradients: str = "stats", optimizer: str = "full",
           op_scopes: Iterable[str] = (), op_types: Iterable[str] = (),
           against: str | os.PathLike[str] | None = None, window: int = 32,
           stop_at_first_divergence: bool = False, rtol: float = 1e-6, atol: float = 1e-5,
           tolerances: Any = None, rename: Iterable[Any] | None = None) -> ContextManager[Recorder]:
    """Record the TensorFlow code run inside the ``with`` block into a trace.

    Parameters
    ----------
    path : path-like
        ``X.zarr`` (directory) or ``X.zarr.zip`` (one file, packed on exit).
    seed : int
        The global seed; with ``seed_mode`` "num_random_ops" or "constant" every
        stateful random op gets the seed pair ``(seed, operation_seed)`` exactly as
        ``tf.compat.v1.keras.utils.DeterministicRandomTestTool(seed, mode)`` gives it.
    seed_mode : {"num_random_ops", "constant", "off"}
        ``"num_random_ops"``: op seed = random ops seen so far, reuse raises
        :class:`~tftrace.errors.SeedReuseError`; ``"constant"``: one op seed for all;
        ``"off"``: the program's own seeding is left alone.
    capture : {"full", "stats"}
        ``"stats"`` keeps statistics and digests but no tensor values.
    overwrite : bool
        Replace an existing trace at ``path``.
    layers, ops, gradients, optimizer : {"off", "stats", "full"}
        Capture level of each automatically captured stream: every layer call's output,
        every op's floating-point outputs, each trainable variable's gradient, the
        optimizer's hyperparameters per step. ``"stats"`` keeps statistics and digest,
        ``"full"`` the values too. The defaults localize a changed layer with no endpoint.
    op_scopes, op_types : iterable of str
        Glob patterns: only ops whose name (scope) or type matches are captured.
    against : path-like, optional
        Trace A to compare this run with while it is recorded (docs/recording.md,
        "Recording against a trace"): every event keeps its statistics and digest, values
        only where it diverges from A, plus the ``window`` events before the first
        divergence; when the block ends, ``diff(A, path)`` is printed on stderr and kept
        as ``rec.against.result``. The trace is format version 4.
    window : int
        With ``against``: how many events before the first divergence keep their values.
    stop_at_first_divergence : bool
        With ``against``: end the run where the first divergence is recorded; the
        ``with`` block ends there (the trace ends ``stopped``) and the program goes on
        after it.
    rtol, atol, tolerances, rename
        With ``against``: as for :func:`diff`.

    Returns
    -------
    context manager
        Yields the recorder: ``.endpoint``, ``.endpoints``, ``.next_step``,
        ``.snapshot_variables``, ``.operation_seed``. See docs/recording.md.
    """
    from tftrace.against import against_options, record_against
    from tftrace.recording.capture.sink import CaptureLevels
    from tftrace.recording.recorder import record as _record

    levels = CaptureLevels(layers=layers, ops=ops, gradients=gradients, optimizer=optimizer,
                           op_scopes=tuple(op_scopes), op_types=tuple(op_types))
    options = against_options(against, window=window, rtol=rtol, atol=atol, tolerances=tolerances,
                              stop_at_first_divergence=stop_at_first_divergence, rename=rename)
    if options is not None:
        return record_against(path, options, seed=seed, seed_mode=seed_mode, overwrite=overwrite,
                              levels=levels)
    return _record(path, seed=seed, seed_mode=seed_mode, capture=capture, overwrite=overwrite,
                   levels=levels)


def replay(source: str | os.PathLike[str], *, record_to: str | os.PathLike[str] | None = None,
           random: bool = True, variables: bool = True, rename: Iterable[Any] | None = None,
           seed: int = 42, seed_mode: str = "num_random_ops", capture: str = "full",
           overwrite: bool = False, layers: str = "stats", ops: str = "off",
           gradients: str = "stats", optimizer: str = "full", op_scopes: Iterable[str] = (),
           op_types: Iterable[str] = (), against: str | os.PathLike[str] | None = None,
           window: int = 32, stop_at_first_divergence: bool = False, rtol: float = 1e-6,
           atol: float = 1e-5, tolerances: Any = None) -> ContextManager[Recorder]:
    """Run the ``with`` block on run A's random values and initial variable values.

    Parameters
    ----------
    source : path-like
        Trace A, recorded with ``capture="full"``.
    record_to : path-like, optional
        Record this run (B) into a trace, as :func:`record` does; its environment
        says what was replayed from where. ``None``: replay without recording.
    random : bool
        The k-th random op B executes gets the values of A's k-th random op (in the
        random-op order of docs/recording.md; per ``Session.run`` in a TF1 graph).
        Op kind (the distribution), shape and dtype must agree, else
        :class:`~tftrace.errors.ReplayError` names op #k and both call sites.
    variables : bool
        Every variable B creates whose name (after ``rename``) is in A starts from
        A's initial value; the others keep their initializer (``replayed: false``).
    rename : iterable of (regex, replacement) or "REGEX=REPL"
        Applied in order to B's variable names (``re.sub``), as in :func:`diff`.
    seed, seed_mode, capture, overwrite, layers, ops, gradients, optimizer, op_scopes, op_types
        As for :func:`record`.
    against, window, stop_at_first_divergence, rtol, atol, tolerances
        As for :func:`record`: compare the replayed run with a trace while it is recorded
        (``against`` is usually ``source``); ``rename`` applies to that comparison too.

    Returns
    -------
    context manager
        Yields the recorder (``.endpoint``, ``.next_step``, ... as in :func:`record`).
    """
    from tftrace.against import against_options, record_against
    from tftrace.recording.capture.sink import CaptureLevels
    from tftrace.recording.recorder import replay as _replay

    levels = CaptureLevels(layers=layers, ops=ops, gradients=gradients, optimizer=optimizer,
                           op_scopes=tuple(op_scopes), op_types=tuple(op_types))
    options = against_options(against, window=window, rtol=rtol, atol=atol, tolerances=tolerances,
                              stop_at_first_divergence=stop_at_first_divergence, rename=rename)
    if options is not None:
        if record_to is None:
            raise UsageError("replay(..., against=A) needs record_to: the trace B is recorded into")
        return record_against(record_to, options, source, random=random, variables=variables,
                              rename=rename, seed=seed, seed_mode=seed_mode, overwrite=overwrite,
                              levels=levels)
    return _replay(source, record_to=record_to, random=random, variables=variables,
                   rename=rename, seed=seed, seed_mode=seed_mode, capture=capture,
                   overwrite=overwrite, levels=levels)


def endpoint(name: str, value: Any) -> None:
    """Record ``value`` as endpoint ``name`` on the active recorder; no-op without one."""
    recorder_module = sys.modules.get("tftrace.recording.recorder")
    if recorder_module is not None:  # no recording module loaded: no recorder can be active
        recorder_module.endpoint(name, value)


def next_step() -> int | None:
    """Mark a training step boundary on the active recorder (as ``rec.next_step()``).

    For code run by ``tftrace record SCRIPT``, which has no recorder object at hand.

    Returns
    -------
    int or None
        The new step number, or None (and nothing happens) without an active recorder.
    """
    recorder_module = sys.modules.get("tftrace.recording.recorder")
    return recorder_module.next_step() if recorder_module is not None else None


def snapshot_variables() -> None:
    """Record every variable's value at the current step on the active recorder
    (as ``rec.snapshot_variables()``); no-op without one."""
    recorder_module = sys.modules.get("tftrace.recording.recorder")
    if recorder_module is not None:
        recorder_module.snapshot_variables()


def diff(a: Trace | str | os.PathLike[str], b: Trace | str | os.PathLike[str], **options: Any) -> DiffResult:
    """Compare trace ``b`` against the reference ``a``; never imports TensorFlow.

    Keyword options: ``rtol``, ``atol``, ``tolerances``, ``rename``, ``only``,
    ``stop_at_first`` (see :func:`tftrace.compare.divergence.diff`).

    Returns
    -------
    DiffResult
        ``.equivalent``, ``.first_divergence``, ``.summary``, ``.to_json()``.
    """
    from tftrace.compare.divergence import diff as _diff

    return _diff(a, b, **options)


def __getattr__(name: str) -> Any:
    # `tftrace.testing` without an explicit import, and `tftrace.Trace`, loaded only when
    # used: importing tftrace (as pytest does for the plugin) loads neither zarr nor numpy.
    import importlib

    if name == "testing":
        return importlib.import_module("tftrace.testing")
    if name == "Trace":
        return importlib.import_module("tftrace.format.reader").Trace
    raise AttributeError(f"module 'tftrace' has no attribute {name!r}")


__all__ = ["Trace", "TftraceError", "__version__", "diff", "endpoint", "next_step", "open",
           "record", "replay", "snapshot_variables", "testing"]
