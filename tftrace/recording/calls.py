"""Which call of a model created a variable.

The outermost Keras layer being called when a variable is created is "the model";
``call_index`` is how many times that layer object had been called before (0 for
variables built on the first call). A layer that creates variables on every call
(the migration guide's ``BrokenScalingLayer``) thus yields ``call_index`` 1, 2, ...
Works for Keras 3, Keras 2 (TensorFlow 2.15), tf-keras and tf.compat.v1.layers; without any layer on the
stack ``current()`` returns None and the caller decides (a Session run count).
"""

from __future__ import annotations

import threading
import weakref
from types import ModuleType
from typing import Any

from tftrace.recording.imports import PostImportHooks
from tftrace.recording.patches import Patches

#: Modules defining a Layer class whose ``__call__`` we count.
LAYER_MODULES = (
    "keras.src.layers.layer",
    "keras.src.engine.base_layer",  # Keras 2.13-2.15 (TensorFlow 2.15's `keras`)
    "keras.src.engine.base_layer_v1",
    "tf_keras.src.engine.base_layer",
    "tf_keras.src.engine.base_layer_v1",
    "tensorflow.python.keras.engine.base_layer",  # tf.compat.v1.layers, tf-slim's layers
    "tensorflow.python.keras.engine.base_layer_v1",
)


class CallCounter:
    """Counts outermost Keras layer calls per layer object while installed."""

    def __init__(self, hooks: PostImportHooks) -> None:
        self._hooks = hooks
        self._local = threading.local()
        self._counts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._patches = Patches()
        #: Top-level packages whose layers were called ("keras", "tf_keras", "tensorflow").
        self.used: set[str] = set()

    def install(self) -> None:
        for name in LAYER_MODULES:
            self._hooks.after_import(name, self._patch_module)

    def uninstall(self) -> None:
        self._patches.restore()

    def current(self) -> int | None:
        """Index of the outermost layer call in progress in this thread, or None."""
        return getattr(self._local, "call_index", None)

    def _patch_module(self, module: ModuleType) -> None:
        cls = getattr(module, "Layer", None)
        if cls is None or "__call__" not in vars(cls):
            return
        original = vars(cls)["__call__"]
        counter = self
        package = module.__name__.split(".")[0]

        def __call__(layer: Any, *args: Any, **kwargs: Any) -> Any:
            local = counter._local
            counter.used.add(package)
            if getattr(local, "call_index", None) is not None:
                return original(layer, *args, **kwargs)
            try:
                index = counter._counts.get(layer, 0)
                counter._counts[layer] = index + 1
            except TypeError:  # unhashable or not weakly referenceable
                index = 0
            local.call_index = index
            try:
                return original(layer, *args, **kwargs)
            finally:
                local.call_index = None

        self._patches.patch(cls, "__call__", __call__)
