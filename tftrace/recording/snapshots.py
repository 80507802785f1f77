"""Snapshots: the current value of every variable seen, at the current step
(``rec.snapshot_variables()``)."""

from __future__ import annotations

from typing import Any, Callable

from tftrace.format.events import SnapshotAttrs
from tftrace.recording.values import to_numpy
from tftrace.recording.variables import VariableCapture


def take_snapshots(variables: VariableCapture, graph_state: Callable[[Any], Any],
                   read: Callable[[Any, list[Any]], list[Any]],
                   emit: Callable[..., Any]) -> None:
    """Emit a snapshot event per recorded variable: eager ones read directly, graph ones
    through the last Session that ran their graph (``graph_state(graph)``, None when no
    Session ran it: skipped)."""
    variables.record_pending_eager()
    by_graph: dict[int, list[Any]] = {}
    for info in variables.seen:
        if info.mode == "eager":
            if info.recorded:
                emit("snapshot", info.name, to_numpy(info.variable), SnapshotAttrs(mode="eager"))
        elif info.recorded and info.initialized is not False:
            by_graph.setdefault(id(info.variable.graph), []).append(info)
    for infos in by_graph.values():
        state = graph_state(infos[0].variable.graph)
        session = state.session() if state and state.session else None
        if session is None or getattr(session, "_closed", False):
            continue
        values = read(session, [i.variable._as_graph_element() for i in infos])
        for info, value in zip(infos, values):
            emit("snapshot", info.name, value, SnapshotAttrs(mode="graph"))
