"""One thin adapter per execution model, chosen once per value.

A value tftrace records (an endpoint, a random op's output) is made in one of three
ways, and each has its adapter:

* ``eager`` (eager.py): the value is there now, emitted at once;
* ``function`` (function.py): a tensor of a ``tf.function`` being traced, observed on
  every execution (or listed as not captured inside an XLA-compiled function);
* ``graph`` (session.py): a TF1 graph tensor, fetched by the Session runs that compute
  it anyway.

:meth:`Adapters.for_graph` decides which, once (``values.execution_mode``); the callers
(``Recorder.endpoint``, the random-op callback) hold no mode switch of their own. Each
adapter records through the :class:`~tftrace.recording.sink.EventSink` and the few
collaborators it is given when built; none imports the recorder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tftrace.recording.values import execution_mode

if TYPE_CHECKING:
    from tftrace.format.events import EndpointAttrs
    from tftrace.recording.random_ops import RandomOpInfo


class Adapter(Protocol):
    """What every execution model's adapter does."""

    mode: str  # "eager" | "function" | "graph": also the events' ``mode``

    def endpoint(self, name: str, value: Any, attrs: EndpointAttrs) -> None:
        """Record ``value`` (of this execution model) as endpoint ``name``."""
        ...

    def random_op(self, info: RandomOpInfo, output: Any, graph: Any) -> Any:
        """Record the random op ``info`` whose output is ``output``; returns what the op
        callback returns (a replacement output, or None)."""
        ...


class Adapters:
    """The three adapters, one per execution model."""

    def __init__(self, eager: Adapter, function: Adapter, graph: Adapter) -> None:
        self._by_mode: dict[str, Adapter] = {a.mode: a for a in (eager, function, graph)}

    def for_graph(self, graph: Any) -> Adapter:
        """The adapter for a value made in ``graph`` (None: eagerly)."""
        return self._by_mode[execution_mode(graph)]
