"""Op isolation (``tftrace explain``): re-run the first diverging op eagerly on A's recorded
inputs, with A's attributes and with B's. The one part of tftrace besides recording/ that
imports TensorFlow, and only when an op is re-run (importing this package loads none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tftrace.isolate.first_op import explain

__all__ = ["explain"]


def __getattr__(name: str) -> Any:
    if name == "explain":
        from tftrace.isolate.first_op import explain

        return explain
    raise AttributeError(name)
