"""Layer capture: the output of every layer call, as a ``layer`` event.

Hooks, installed while recording (and when a module is imported later):

- Keras 3 ``Layer.__call__``; tf-keras ``base_layer.Layer.__call__`` and
  ``base_layer_v1.Layer.__call__`` (``tf.compat.v1.layers`` and the legacy layers tf-slim
  builds on). A ``track_tf1_style_variables`` layer is a tf-keras layer; the TF1 code
  inside it is seen by the tf-slim and ``compat.v1.layers`` hooks.
- tf-slim: each layer function (``slim.conv2d``, ``slim.batch_norm``...) is entered
  through a wrapper that notes the layer's scope, and returns through
  ``tf_slim.layers.utils.collect_named_outputs``, which gives its output.

Naming rule, so that a Session and the same code run eagerly agree: TF1-style layers
(tf-slim, ``compat.v1.layers``) are named by their variable scope alone ("conv1",
"conv1/BatchNorm"), which the shim keeps; Keras layers by their path of layer names from
the outermost layer called ("model/block/dense"). Legacy layers used inside a slim layer
are folded into it. A layer called on Keras' symbolic inputs (building a functional
model) is not a run: nothing is recorded.

The engine also keeps the *current layer* per thread, which the op engine reads to give
every op the layer it belongs to (even with layer capture off).
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable

import tensorflow as tf

from tftrace.format.events import EventKind, LayerAttrs
from tftrace.recording.patches import Patches
from tftrace.recording.capture.sink import CaptureSink, deliver, is_numeric, mode_of

#: Modules with a Keras Layer class, and the family name events give it.
KERAS_LAYER_MODULES = {
    "keras.src.layers.layer": "keras3",
    "keras.src.engine.base_layer": "keras2",  # Keras 2.13-2.15 (TensorFlow 2.15's tf.keras)
    "keras.src.engine.base_layer_v1": "keras2-v1",
    "tf_keras.src.engine.base_layer": "tf-keras",
    "tf_keras.src.engine.base_layer_v1": "tf-keras-v1",
}
SLIM_PACKAGE = "tf_slim"
SLIM_LAYERS_MODULE = "tf_slim.layers.layers"
SLIM_UTILS_MODULE = "tf_slim.layers.utils"
#: tf-slim layer functions and the scope each uses when none is given.
SLIM_DEFAULT_SCOPES = {
    "convolution": "Conv", "convolution1d": "Conv", "convolution2d": "Conv",
    "convolution3d": "Conv", "conv2d_in_plane": "ConvInPlane",
    "fully_connected": "fully_connected", "batch_norm": "BatchNorm", "layer_norm": "LayerNorm",
    "max_pool2d": "MaxPool2D", "avg_pool2d": "AvgPool2D", "max_pool3d": "MaxPool3D",
    "avg_pool3d": "AvgPool3D", "dropout": "Dropout", "flatten": "Flatten",
    "separable_convolution2d": "SeparableConv2d", "convolution2d_transpose": "Conv2d_transpose",
    "conv2d_transpose": "Conv2d_transpose", "bias_add": "BiasAdd", "unit_norm": "UnitNorm",
}
#: Graphs where Keras builds functional models (calls there are not runs).
_KERAS_BUILD_GRAPHS = ("keras_graph",)


class LayerCapture:
    """Records layer outputs and tracks the current layer, per thread."""

    def __init__(self, sink: CaptureSink, level: str,
                 after_import: Callable[[str, Callable[[Any], None]], None]) -> None:
        self._sink = sink
        self._level = level
        self._after_import = after_import
        self._local = threading.local()
        self._patches = Patches()

    # -- what the op engine reads ------------------------------------------------------

    def current_layer(self) -> str | None:
        """The name of the innermost layer being called in this thread, or None."""
        stack = self._stack()
        for family, name in reversed(stack):
            if name and family != "shim":
                return name
        return None

    def _stack(self) -> list[tuple[str, str]]:
        stack: list[tuple[str, str]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    # -- install -----------------------------------------------------------------------

    def install(self) -> None:
        for module_name, family in KERAS_LAYER_MODULES.items():
            self._after_import(module_name, functools.partial(self._patch_keras, family=family))
        # after the whole package: tf_slim/__init__ copies the layer functions into its
        # namespace once tf_slim.layers.layers is imported, and every copy must be patched
        self._after_import(SLIM_PACKAGE, self._patch_slim)

    def uninstall(self) -> None:
        self._patches.restore()

    def _patch_keras(self, module: Any, family: str) -> None:
        cls = getattr(module, "Layer", None)
        if cls is None or "__call__" not in vars(cls):
            return
        original = vars(cls)["__call__"]
        capture = self

        def __call__(layer: Any, *args: Any, **kwargs: Any) -> Any:
            stack = capture._stack()
            inside_slim = any(f == "slim" for f, _ in stack)
            name = "" if inside_slim else capture._keras_name(layer, stack)
            # A track_tf1_style_variables layer is a wrapper: the TF1 code in it is named
            # by its variable scopes, as in a Session, and its ops by those layers.
            stack.append(("shim" if _is_shim(layer) else family, name))
            try:
                outputs = original(layer, *args, **kwargs)
            finally:
                stack.pop()
            if name:
                capture._record(name, family, type(layer).__name__, outputs)
            return outputs

        __call__.__wrapped__ = original  # type: ignore[attr-defined]
        self._patches.patch(cls, "__call__", __call__, wraps=False)

    @staticmethod
    def _keras_name(layer: Any, stack: list[tuple[str, str]]) -> str:
        scope = getattr(layer, "_scope", None)  # tf.compat.v1.layers: its variable scope
        scope_name = getattr(scope, "name", None)
        if isinstance(scope_name, str) and scope_name:
            return scope_name
        outer = next((n for f, n in reversed(stack) if n and f not in ("slim", "shim")), "")
        own = str(getattr(layer, "name", type(layer).__name__))
        return f"{outer}/{own}" if outer else own

    def _patch_slim(self, package: Any) -> None:
        import importlib
        self._patch_slim_layers(importlib.import_module(SLIM_LAYERS_MODULE), package)
        self._patch_slim_utils(importlib.import_module(SLIM_UTILS_MODULE))

    def _patch_slim_layers(self, module: Any, package: Any) -> None:
        namespaces = [module, package, getattr(package, "layers", None)]
        for function_name, default in SLIM_DEFAULT_SCOPES.items():
            function = getattr(module, function_name, None)
            if function is None or getattr(function, "_tftrace_layer", False):
                continue
            wrapped = self._slim_entry(function, default)
            for namespace in namespaces:
                if namespace is None:
                    continue
                for attr, value in list(vars(namespace).items()):
                    if value is function:
                        self._patches.patch(namespace, attr, wrapped, wraps=False)

    def _slim_entry(self, function: Callable[..., Any], default: str) -> Callable[..., Any]:
        try:
            signature: inspect.Signature | None = inspect.signature(function)
        except (TypeError, ValueError):
            signature = None
        capture = self

        @functools.wraps(function)
        def layer_function(*args: Any, **kwargs: Any) -> Any:
            scope = kwargs.get("scope")
            if signature is not None:
                try:
                    scope = signature.bind_partial(*args, **kwargs).arguments.get("scope")
                except TypeError:
                    pass
            # The name the layer gets from the variable scope it opens: the same in a
            # Session, eagerly through the shim and in a tf.function (its name scope is not).
            scope = scope or default
            outer = tf.compat.v1.get_variable_scope().name
            name = f"{outer}/{scope}" if outer else scope
            stack = capture._stack()
            stack.append(("slim", name))
            try:
                return function(*args, **kwargs)
            finally:
                stack.pop()

        layer_function._tftrace_layer = True  # type: ignore[attr-defined]
        # arg_scope finds functions by their _key_op
        layer_function._key_op = getattr(function, "_key_op", None)  # type: ignore[attr-defined]
        return layer_function

    def _patch_slim_utils(self, module: Any) -> None:
        original = getattr(module, "collect_named_outputs", None)
        if original is None:
            return
        capture = self

        def collect_named_outputs(collections: Any, alias: Any, outputs: Any) -> Any:
            # the innermost slim layer returns: conv2d's normalizer is "conv1/BatchNorm"
            # (its own scope), conv2d itself "conv1"; a layer function calling another
            # (convolution2d -> convolution) returns through here once
            entry = next((n for f, n in reversed(capture._stack()) if f == "slim"), None)
            if entry:
                capture._record(entry, "slim", "slim", outputs)
            return original(collections, alias, outputs)

        # the layer functions call it as ``utils.collect_named_outputs``: looked up per call
        self._patches.patch(module, "collect_named_outputs", collect_named_outputs, wraps=False)

    # -- recording ---------------------------------------------------------------------

    def _record(self, name: str, family: str, layer_type: str, outputs: Any) -> None:
        if self._level == "off" or not self._sink.active:
            return
        tensors = [t for t in tf.nest.flatten(outputs) if isinstance(t, tf.Tensor)]
        if not tensors or getattr(getattr(tensors[0], "graph", None), "name", "") in _KERAS_BUILD_GRAPHS:
            return
        for index, tensor in enumerate(tensors):
            if not is_numeric(tensor.dtype):
                continue
            sink = self._sink
            event_name = sink.in_replica(name if index == 0 else f"{name}:{index}")
            attrs = LayerAttrs(layer_type=layer_type, family=family, output_index=index,
                               mode=mode_of(tensor))

            def on_value(array: Any, event_name: str = event_name, attrs: LayerAttrs = attrs) -> None:
                sink.emit(EventKind.LAYER, event_name, array, attrs)

            deliver(sink, "layer", event_name, tensor, on_value)


def _is_shim(layer: Any) -> bool:
    call = getattr(type(layer), "call", None)
    decorator = getattr(call, "_tf_decorator", None)
    return getattr(decorator, "decorator_name", None) == "track_tf1_style_variables"
