"""Two traces' event logs read one step at a time (compare/streamed.py): what a first pass
keeps of a log (its variables, late value records, a few facts), then the events of each
step, with the keys of values stored after their events. Memory: one step's events."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

from tftrace.format.events import EventKind
from tftrace.format.reader import Trace
from tftrace.format.rules import random_attrs
from tftrace.format.schema import Event


@dataclass
class Survey:
    """What one pass over a trace's log keeps: its variables (with their values' keys), the
    value records written after their step, and a few facts; bounded by the model."""

    variables: dict[int, Event] = field(default_factory=dict)
    late: dict[int, str] = field(default_factory=dict)
    last: Event | None = None
    last_step: int = -1
    ordered: bool = True
    marks_initializers: bool = True


def survey(trace: Trace) -> Survey:
    """One pass over ``trace``'s log, one record at a time (see :class:`Survey`)."""
    found = Survey()
    this_step: set[int] = set()
    for item in trace.stream_events():
        if isinstance(item, Event):
            if item.step < found.last_step:
                found.ordered = False
            if item.step != found.last_step:
                this_step = set()
            this_step.add(item.seq)
            found.last, found.last_step = item, item.step
            if item.kind is EventKind.VARIABLE:
                found.variables[item.seq] = item
            elif item.kind is EventKind.RANDOM_OP and random_attrs(item).initializer is None:
                found.marks_initializers = False
        elif item.seq in found.variables:
            found.variables[item.seq] = dataclasses.replace(found.variables[item.seq],
                                                             array_key=item.array_key)
        elif item.seq not in this_step:
            found.late[item.seq] = item.array_key
    return found


def by_step(trace: Trace, survey: Survey) -> Iterator[tuple[int, list[Event]]]:
    """The log's events step by step, each with the key of its value when stored later."""
    group: list[Event] = []
    index: dict[int, int] = {}
    step: int | None = None
    for item in trace.stream_events():
        if isinstance(item, Event):
            if step is not None and item.step != step:
                yield step, group
                group, index = [], {}
            step = item.step
            key = survey.late.get(item.seq)
            index[item.seq] = len(group)
            group.append(item if key is None else dataclasses.replace(item, array_key=key))
        elif item.seq in index:
            group[index[item.seq]] = dataclasses.replace(group[index[item.seq]], array_key=item.array_key)
    if step is not None:
        yield step, group


def steps(a: Iterator[tuple[int, list[Event]]], b: Iterator[tuple[int, list[Event]]]
          ) -> Iterator[tuple[int, list[Event], list[Event]]]:
    """Two traces' steps side by side: each step either holds, with its events in each
    (an empty list where one has none)."""
    next_a, next_b = next(a, None), next(b, None)
    while next_a is not None or next_b is not None:
        step = min(n[0] for n in (next_a, next_b) if n is not None)
        group_a = group_b = []
        if next_a is not None and next_a[0] == step:
            group_a, next_a = next_a[1], next(a, None)
        if next_b is not None and next_b[0] == step:
            group_b, next_b = next_b[1], next(b, None)
        yield step, group_a, group_b
