"""Gradient capture: one ``gradient`` event per trainable variable per computation.

Gradients come from two producers, hooked while recording:

- ``tf.GradientTape.gradient``: TF2 code, Keras 3 and tf-keras ``fit`` / ``train_step`` and
  ``Optimizer.minimize`` (all compute their gradients with a tape);
- ``tf.compat.v1.train.Optimizer.compute_gradients`` (which ``minimize`` calls): TF1 graphs.
  Inside it a tape may be used (eager TF1 optimizers); that tape is not counted twice.

Each gradient is named by its variable, as the variable's own event is, so a TF1 run and
a Keras run pair per variable. Sparse gradients (``IndexedSlices``) are recorded dense.
Gradients given to ``apply_gradients`` from elsewhere (``tf.gradients``) are not seen.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import tensorflow as tf

from tftrace.format.events import EventKind, GradientAttrs
from tftrace.recording.callsite import user_call_site
from tftrace.recording.patches import Patches
from tftrace.recording.capture.sink import CaptureSink, deliver, is_numeric, mode_of

TF1_OPTIMIZER_MODULE = "tensorflow.python.training.optimizer"


class GradientCapture:
    """Wraps the gradient producers while installed."""

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
        self._patch_tape()
        self._after_import(TF1_OPTIMIZER_MODULE, self._patch_tf1)

    def uninstall(self) -> None:
        self._patches.restore()

    def _patch_tape(self) -> None:
        from tensorflow.python.eager import backprop
        cls = backprop.GradientTape
        original = cls.gradient
        capture = self

        def gradient(tape: Any, target: Any, sources: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(tape, target, sources, *args, **kwargs)
            if not getattr(capture._local, "inside", False):
                capture._record(tf.nest.flatten(sources), tf.nest.flatten(result), "tape")
            return result

        gradient.__wrapped__ = original  # type: ignore[attr-defined]
        gradient.__doc__ = original.__doc__
        self._patches.patch(cls, "gradient", gradient, wraps=False)

    def _patch_tf1(self, module: Any) -> None:
        cls = module.Optimizer
        original = cls.compute_gradients
        capture = self

        def compute_gradients(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
            outer = getattr(capture._local, "inside", False)
            capture._local.inside = True
            try:
                pairs = original(optimizer, *args, **kwargs)
            finally:
                capture._local.inside = outer
            if not outer:
                capture._record([v for _, v in pairs], [g for g, _ in pairs], "compute_gradients")
            return pairs

        compute_gradients.__wrapped__ = original  # type: ignore[attr-defined]
        self._patches.patch(cls, "compute_gradients", compute_gradients, wraps=False)

    def _record(self, sources: list[Any], gradients: list[Any], producer: str) -> None:
        sink = self._sink
        if not sink.active:
            return
        call_site = user_call_site(3)
        for source, grad in zip(sources, gradients):
            variable = _trainable_variable(source)
            if variable is None or grad is None:
                continue
            if isinstance(grad, tf.IndexedSlices):
                grad = tf.convert_to_tensor(grad)
            if not isinstance(grad, tf.Tensor) or not is_numeric(grad.dtype):
                continue
            name = sink.variable_name(variable)
            attrs = GradientAttrs(variable=name, source=producer, mode=mode_of(grad),
                                  call_site=call_site)

            name = sink.in_replica(name)  # per replica inside strategy.run

            def on_value(array: Any, name: str = name, attrs: GradientAttrs = attrs) -> None:
                sink.emit(EventKind.GRADIENT, name, array, attrs)

            deliver(sink, "gradient", name, grad, on_value)


def _trainable_variable(source: Any) -> Any:
    """The variable ``source`` is, when it is a trainable one (a Keras 3 variable counts)."""
    if isinstance(source, tf.Variable):
        return source if source.trainable else None
    inner = getattr(source, "value", None)
    if isinstance(inner, tf.Variable) and getattr(source, "trainable", False):
        return source
    return None
