"""The patch/restore helper every TensorFlow hook goes through, and the post-import hooks."""

from __future__ import annotations

import sys
import types

from tftrace.recording.callsite import user_call_site
from tftrace.recording.imports import PostImportHooks
from tftrace.recording.patches import Patches


def test_patches_are_restored_in_reverse_order_and_only_our_own() -> None:
    module = types.ModuleType("fake_tf")
    module.get_seed = lambda: "tensorflow's"

    class Layer:
        def __call__(self) -> str:
            return "original"

    class Dense(Layer):
        pass

    patches = Patches()
    original = patches.patch(module, "get_seed", lambda: "ours")
    assert original() == "tensorflow's" and module.get_seed() == "ours"
    assert module.get_seed.__wrapped__ is original  # unwrapping tools still find TensorFlow's
    patches.patch(Dense, "__call__", lambda self: "counted")  # inherited: Dense had no own __call__
    undone = []
    patches.on_restore(lambda: undone.append("state"))
    assert Dense()() == "counted" and len(patches) == 3
    patches.restore()
    assert module.get_seed() == "tensorflow's" and Dense()() == "original" and "__call__" not in vars(Dense)
    assert undone == ["state"] and len(patches) == 0

    # Something patched it again after us: restoring leaves theirs in place.
    patches.patch(module, "get_seed", lambda: "ours")
    module.get_seed = lambda: "someone else's"
    patches.restore()
    assert module.get_seed() == "someone else's"


def test_post_import_hooks_run_after_a_later_import_and_at_once_for_an_imported_module(tmp_path, monkeypatch) -> None:
    (tmp_path / "tftrace_hooked_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    hooks = PostImportHooks()
    hooks.install()
    try:
        hooks.after_import("tftrace_hooked_module", lambda m: seen.append(m.VALUE))
        hooks.after_import("types", lambda m: seen.append(m.__name__))  # imported already: now
        assert seen == ["types"]
        import tftrace_hooked_module  # noqa: F401
        assert seen == ["types", 1]
    finally:
        hooks.uninstall()
        sys.modules.pop("tftrace_hooked_module", None)
    assert hooks not in sys.meta_path


def test_call_site_is_the_innermost_user_frame() -> None:
    def user_function() -> str | None:
        return user_call_site(1)

    site = user_function()
    assert site is not None and site.startswith(f"{__file__}:") and site.endswith(" in user_function")
