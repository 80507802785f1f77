"""Import-time hooks: patch modules the user imports after recording started.

Two uses: counting Keras layer calls (the Layer classes may be imported by the
user's script inside ``tftrace record``), and the ``tf_keras.legacy_tf_layers``
alias that ``tf_slim.batch_norm`` needs (see docs/troubleshooting.md).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable

#: Where TensorFlow (>= 2.15) looks for the legacy layers, and where tf-keras keeps them.
LEGACY_LAYERS_ALIAS = "tf_keras.legacy_tf_layers"
LEGACY_LAYERS_REAL = "tf_keras.src.legacy_tf_layers"


class _AliasLoader(importlib.abc.Loader):
    """Loads ``alias`` as the already importable module ``target`` (one module object)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        module = importlib.import_module(self.target)
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # importlib stamped the alias spec on the real module; give it its own back.
        module.__spec__ = self._real_spec


class PostImportHooks(importlib.abc.MetaPathFinder):
    """Runs ``callback(module)`` right after a watched module is executed."""

    def __init__(self) -> None:
        self._after: dict[str, list[Callable[[ModuleType], None]]] = {}
        self._installed = False

    def after_import(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        """Call ``callback`` now if ``name`` is imported, else when it is."""
        module = sys.modules.get(name)
        if module is not None:
            callback(module)
        else:
            self._after.setdefault(name, []).append(callback)

    def install(self) -> None:
        if not self._installed:
            sys.meta_path.insert(0, self)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            self._installed = False
        self._after.clear()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname == LEGACY_LAYERS_ALIAS or fullname.startswith(LEGACY_LAYERS_ALIAS + "."):
            real = LEGACY_LAYERS_REAL + fullname[len(LEGACY_LAYERS_ALIAS):]
            if importlib.util.find_spec("tf_keras") is None:
                return None
            return importlib.util.spec_from_loader(fullname, _AliasLoader(real))
        callbacks = self._after.pop(fullname, None)
        if not callbacks:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            for callback in callbacks:
                callback(module)

        spec.loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec


def alias_legacy_tf_layers() -> bool:
    """Make ``tf_keras.legacy_tf_layers`` importable now, for code run outside a recording.

    Recording installs the alias lazily (only when TensorFlow asks for it); this is
    the eager equivalent for baselines. Returns False when tf-keras is not installed.
    """
    if importlib.util.find_spec("tf_keras") is None:
        return False
    for suffix in ("", ".normalization", ".base", ".core", ".convolutional", ".pooling"):
        real = importlib.import_module(LEGACY_LAYERS_REAL + suffix)
        sys.modules.setdefault(LEGACY_LAYERS_ALIAS + suffix, real)
    return True
