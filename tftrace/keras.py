"""``TraceCallback``: record Keras ``Model.fit`` / ``evaluate`` / ``predict`` into the active
recording, one step per batch, in Keras 3 and tf-keras.

Per training batch: the batch loss itself as endpoint ``loss`` (not the running mean that
``logs`` holds), Keras' running values from ``logs`` as ``metrics/<name>``, a snapshot of
every variable every ``snapshot_every`` batches, then the step boundary. The batch loss is
recorded where the train step computes it (the model's loss computation, wrapped on this
model instance only), so it is the same value a hand-written loop records. Under
``jit_compile`` nothing can be added inside the compiled step: the batch loss is then
derived after the batch from Keras' loss tracker (``(total - previous total) / (count -
previous count)``, close to the computed value, not bit-equal), and the trace's environment
says so (``keras_batch_loss``).

``evaluate`` and ``predict`` called on their own also make one step per batch (endpoints
``eval/loss`` and ``eval/metrics/<name>``; ``predict/outputs``); the validation run
inside ``fit`` records ``eval/...`` at the current step without moving it, so the training
steps line up with a hand-written loop's.

Without an active recording every method is a no-op, so a callback can stay in the code.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

import tftrace

__all__ = ["FIT_ONLY", "TraceCallback"]

#: Names of state that ``fit`` keeps and a hand-written loop does not, for
#: ``tftrace.diff(loop, fit, ignore=FIT_ONLY)``: the callback's ``metrics/*`` endpoints
#: (Keras' running means), Keras 3's loss tracker (``loss/total``, ``loss/count``),
#: tf-keras' loss metric (``total``, ``count``) and its model step counters
#: (``_train_counter`` and others, all named ``Variable``).
FIT_ONLY = ("metrics/*", "eval/metrics/*", "loss/total", "loss/count", "total", "count",
            "Variable")


class TraceCallback:
    """A Keras callback (Keras 3 and tf-keras) that records training into ``tftrace``.

    Parameters
    ----------
    snapshot_every : int
        Snapshot every variable after every N-th training batch (0: never).
    batch_loss : bool
        Record the batch loss as endpoint ``loss``.
    metrics : bool
        Record ``logs`` (Keras' running values over the epoch) as ``metrics/<name>``.

    Examples
    --------
    >>> with tftrace.record("fit.zarr"):                        # doctest: +SKIP
    ...     model.fit(x, y, batch_size=16, shuffle=False,
    ...               callbacks=[tftrace.keras.TraceCallback()])
    """

    def __init__(self, snapshot_every: int = 1, batch_loss: bool = True, metrics: bool = True) -> None:
        if not isinstance(snapshot_every, int) or isinstance(snapshot_every, bool) or snapshot_every < 0:
            from tftrace.errors import UsageError

            raise UsageError(f"expected snapshot_every to be an int >= 0, got {snapshot_every!r}")
        self.snapshot_every = snapshot_every
        self.batch_loss = batch_loss
        self.metrics = metrics
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self._in_fit = False
        self._batches = 0
        self._tracker_before: tuple[float, float] | None = None
        self._derived = False

    # -- Keras' callback protocol -------------------------------------------------------
    def set_model(self, model: Any) -> None:
        self.model = model
        self._derived = bool(getattr(model, "jit_compile", False))
        if self.batch_loss and not self._derived:
            _wrap_loss(model)

    def set_params(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: Any = None) -> None:
        self._in_fit = True
        if _recording() and self.batch_loss and self._derived:
            _note_derived()

    def on_train_end(self, logs: Any = None) -> None:
        self._in_fit = False

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self._derived and self.batch_loss:
            self._tracker_before = _tracker(self.model)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if not _recording():
            return
        if self._derived and self.batch_loss:
            _endpoint_from_tracker("loss", self._tracker_before, _tracker(self.model))
        if self.metrics:
            _log_endpoints("metrics/", logs)
        self._batches += 1
        if self.snapshot_every and self._batches % self.snapshot_every == 0:
            tftrace.snapshot_variables()
        tftrace.next_step()

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        if not _recording():
            return
        if self.metrics:
            _log_endpoints("eval/metrics/", logs)
        if not self._in_fit:
            tftrace.next_step()

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        if not _recording():
            return
        outputs = (logs or {}).get("outputs")
        if outputs is not None:
            for n, value in enumerate(_flatten(outputs)):
                tftrace.endpoint("predict/outputs" + (f"/{n}" if n else ""), value)
        tftrace.next_step()

    def __getattr__(self, name: str) -> Any:
        # Every other hook (on_epoch_begin, on_test_begin, ...) does nothing; Keras also
        # probes a few private flags, all of which default to "no".
        if name.startswith("on_"):
            return _nothing
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"'TraceCallback' object has no attribute {name!r}")

    _supports_tf_logs = False
    _chief_worker_only = None

    # tf-keras asks which batch hooks a callback implements before calling them.
    def _implements_train_batch_hooks(self) -> bool:
        return True

    def _implements_test_batch_hooks(self) -> bool:
        return True

    def _implements_predict_batch_hooks(self) -> bool:
        return True


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _recording() -> bool:
    import sys

    module = sys.modules.get("tftrace.recording.recorder")
    return module is not None and module.active_recorder() is not None


def _note_derived() -> None:
    import sys

    recorder = sys.modules["tftrace.recording.recorder"].active_recorder()
    recorder.note_environment(keras_batch_loss="derived from the loss tracker (jit_compile)")


def _wrap_loss(model: Any) -> None:
    """Record the loss where the train / test step computes it (this instance only)."""
    if getattr(model, "_tftrace_loss_wrapped", False):
        return
    # Keras 3 trains through ``_compute_loss(..., training=)``; tf-keras through
    # ``compute_loss`` (no training flag: the step wrappers below say which step runs).
    keras3 = hasattr(model, "_compute_loss")
    name = "_compute_loss" if keras3 else "compute_loss"
    original = getattr(model, name)
    mode = {"eval": False}

    def compute_loss(*args: Any, **kwargs: Any) -> Any:
        loss = original(*args, **kwargs)
        training = kwargs.get("training", not mode["eval"])
        tftrace.endpoint("loss" if training else "eval/loss", loss)
        return loss

    setattr(model, name, compute_loss)
    test_step = model.test_step

    def traced_test_step(*args: Any, **kwargs: Any) -> Any:
        mode["eval"] = True
        try:
            return test_step(*args, **kwargs)
        finally:
            mode["eval"] = False

    model.test_step = traced_test_step
    model._tftrace_loss_wrapped = True
    # Keras caches the compiled step functions: rebuild them with the wrapped loss.
    for attribute in ("train_function", "test_function"):
        if getattr(model, attribute, None) is not None:
            setattr(model, attribute, None)


def _tracker(model: Any) -> tuple[float, float] | None:
    """(total, count) of Keras' loss tracker: Keras 3 ``_loss_tracker``; tf-keras
    ``compiled_loss._loss_metric``."""
    metric = getattr(model, "_loss_tracker", None)
    if metric is None:
        compiled = getattr(model, "compiled_loss", None)
        metric = getattr(compiled, "_loss_metric", None)
    total, count = getattr(metric, "total", None), getattr(metric, "count", None)
    if total is None or count is None:
        return None
    return float(np.asarray(total)), float(np.asarray(count))


def _endpoint_from_tracker(name: str, before: tuple[float, float] | None,
                           after: tuple[float, float] | None) -> None:
    if after is None:
        return
    total, count = after
    if before is not None and before[1] <= count:  # the tracker resets at each epoch
        total, count = total - before[0], count - before[1]
    if count > 0:
        tftrace.endpoint(name, np.float32(total / count))


def _log_endpoints(prefix: str, logs: Any) -> None:
    for key, value in (logs or {}).items():
        array = np.asarray(value)
        if array.dtype.kind in "fiub":
            tftrace.endpoint(prefix + str(key), array)


def _flatten(outputs: Any) -> list[Any]:
    if isinstance(outputs, Mapping):
        return [v for _, v in sorted(outputs.items())]
    if isinstance(outputs, (list, tuple)):
        return [v for item in outputs for v in _flatten(item)]
    return [outputs]
