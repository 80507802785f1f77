"""The Session adapter: a TF1 graph tensor, fetched by the Session runs that compute it.

It registers the tensor with its graph's watches (recording/session.py); each later
``Session.run`` that executes the tensor's op anyway adds it to its fetches, and feeds
run A's values under replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from tftrace.format.events import EndpointAttrs
    from tftrace.recording.random_ops import RandomOpInfo
    from tftrace.recording.session import GraphState
    from tftrace.recording.variables import VariableCapture


class SessionAdapter:
    """Tensors of a TF1 graph."""

    mode = "graph"

    def __init__(self, graph_state: Callable[[Any], GraphState],
                 variables: VariableCapture) -> None:
        self._graph_state = graph_state
        self._variables = variables

    def endpoint(self, name: str, value: Any, attrs: EndpointAttrs) -> None:
        self._graph_state(value.graph).watch_endpoint(name, value, attrs)

    def random_op(self, info: RandomOpInfo, output: Any, graph: Any) -> Any:
        if info.initializer:
            self._variables.note_draw(info)
        self._graph_state(graph).watch_random_op(info, output)
        return None
