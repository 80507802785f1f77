"""Replay: run B consumes run A's random values and initial variable values.

The recorder's adapters ask a :class:`ReplaySource` for A's values at the moment
B produces its own:

* a random op executed eagerly or in a ``tf.function`` takes the *next* value of
  A's random stream (DESIGN's random-op order: step by step, by seed order within a
  step); ``next_step`` moves to A's next step, so a step with fewer random ops in B
  does not shift the ones after it;
* a ``Session.run`` takes, for each random op it executes, a value of A's current step
  not yet taken whose op matches, so an initializer run and a training run in one step
  each get their own values;
* a variable takes A's recorded initial value by name (``:0`` ignored, the same
  rename rules as ``tftrace diff``, applied to B's names).

Random ops drawn by variable initializers form a stream of their own. Frameworks
create variables at different moments (a TF1 graph as the layers are built, Keras 3
all at once before the first computation), so their draws interleave differently
with dropout; the variable's value is what matters and it is replayed by name. An
initializer's draw takes a compatible initializer value of A not yet taken, and keeps
its own values when A has none; every other random op must match A's in order, or
replay stops with an error. Every random op of B, whichever adapter asks, goes
through one matching rule (:meth:`ReplaySource._match`): among A's values not yet taken
in its window (the next one eagerly and in a tf.function, the current step in a
Session run, every initializer draw for an initializer's draw), those of the same
distribution, dtype and shape; where several would do, the same variable's draw, else
the same op name, else the first in A's order (:meth:`ReplaySource._pick`).

Op kinds agree when they draw from the same distribution: a TF1 ``RandomUniform``
and the ``StatelessRandomUniformV2`` a Keras 3 dropout uses both produce uniform
[0, 1) values, so one can stand for the other. Shape and dtype must be equal.
"""

from __future__ import annotations

import bisect
import os
import threading
from typing import TYPE_CHECKING, Any, Iterable, NoReturn, Sequence

import numpy as np

from tftrace.errors import ArrayNotStoredError, ReplayError, UsageError
from tftrace.format.rules import (RenameRule, is_initializer, marks_initializers, normalize_name,
                                  parse_rename_rule, random_attrs, random_family, random_order)
from tftrace.format.reader import Trace, open_trace
from tftrace.format.schema import Event

if TYPE_CHECKING:
    from tftrace.recording.random_ops import RandomOpInfo


class ReplaySource:
    """Run A's trace, served value by value to the run being recorded.

    Parameters
    ----------
    path : path-like
        Trace A (recorded with ``capture="full"``: replay needs its values).
    random, variables : bool
        What to replay.
    rename : sequence of rules
        ``(regex, replacement)`` pairs or ``"REGEX=REPL"`` strings applied to B's
        variable names before looking them up in A.
    """

    def __init__(self, path: str | os.PathLike[str], *, random: bool = True,
                 variables: bool = True, rename: Iterable[Any] | None = None) -> None:
        if not random and not variables:
            raise UsageError("replay needs something to replay; expected random=True or "
                             "variables=True, got both False")
        self.trace: Trace = open_trace(path)
        self.path = str(self.trace.path)
        self.random = random
        self.variables = variables
        self.rename: tuple[RenameRule, ...] = tuple(parse_rename_rule(r) for r in rename or ())
        # A trace that does not mark initializer draws (older tftrace) is one stream.
        self._split = marks_initializers(self.trace.events)
        randoms = sorted((e for e in self.trace.events if e.kind == "random_op"),
                         key=lambda e: random_order(e, self._split))
        self._position = {e.seq: i for i, e in enumerate(randoms)}  # as diff numbers them
        self._stream = [e for e in randoms if not is_initializer(e)]
        self._steps = [e.step for e in self._stream]
        self._taken = [False] * len(self._stream)
        self._cursor = 0
        self._replayed_random = 0
        self._seen = 0  # random ops of B so far, initializers included: B's "#k"
        self._initializers = [e for e in randoms if is_initializer(e)]
        self._initializers_taken = [False] * len(self._initializers)
        self._replayed_initializers = 0
        self._own_initializers = 0
        # Variables by name, in recording order: the k-th variable B creates under a name
        # takes A's k-th of that name (tf-keras names several counters "Variable:0"), as
        # diff pairs them by name and occurrence.
        self._initial_values: dict[str, list[Event]] = {}
        self._initial_taken: dict[str, int] = {}
        for event in self.trace.events:
            if event.kind == "variable":
                self._initial_values.setdefault(normalize_name(event.name), []).append(event)
        self.replayed_variables: list[str] = []
        self.not_replayed_variables: list[str] = []
        self.error: str | None = None
        self._lock = threading.Lock()

    # -- random values -----------------------------------------------------------------

    def on_next_step(self, step: int) -> None:
        """B starts ``step``: continue from the start of A's step ``step`` (or later)."""
        with self._lock:
            self._cursor = max(self._cursor, bisect.bisect_left(self._steps, step))

    def draw(self, info: RandomOpInfo, shape: Sequence[int], dtype: str,
             step: int) -> tuple[np.ndarray, Event] | None:
        """A's value for a random op B executes eagerly or in a tf.function: the next one
        of A's random stream (None: an initializer's draw A has no match for; B keeps its
        own)."""
        with self._lock:
            match = self._match(info, shape, dtype, step, self._next_window())
        return None if match is None else (self._value(match, info), match)

    def session_random(self, requests: Sequence[tuple[RandomOpInfo, Sequence[int | None] | None, str]],
                       step: int) -> list[tuple[np.ndarray, Event] | None]:
        """A's values for the random ops one ``Session.run`` executes, in seed order: each
        may take any value of A's step ``step`` not yet taken (an initializer run and a
        training run in one step each get their own)."""
        with self._lock:
            window = range(bisect.bisect_left(self._steps, step),
                           bisect.bisect_right(self._steps, step))
            matches = [self._match(info, shape, dtype, step, window)
                       for info, shape, dtype in requests]
        return [None if event is None else (self._value(event, info), event)
                for event, (info, _, _) in zip(matches, requests)]

    def _next_window(self) -> range:
        """The eager and tf.function window: the first value of A's stream not yet taken."""
        while self._cursor < len(self._stream) and self._taken[self._cursor]:
            self._cursor += 1
        return range(self._cursor, min(self._cursor + 1, len(self._stream)))

    def _match(self, info: RandomOpInfo, shape: Sequence[int | None] | None, dtype: str,
               step: int, window: range) -> Event | None:
        """The one matching rule every random op of B goes through (call with the lock held).

        An initializer's draw (in a trace that marks them) looks among all of A's
        initializer draws; any other among ``window`` of A's stream (the next value
        eagerly and in a tf.function, the current step in a Session run). Candidates are
        A's values not yet taken of the same distribution, dtype and shape; :meth:`_pick`
        chooses one. With none, an initializer's draw keeps B's own value (None) and any
        other op stops the replay with an error naming both ops.
        """
        k = self._seen
        self._seen += 1
        initializer = bool(info.initializer and self._split)
        events, taken = ((self._initializers, self._initializers_taken) if initializer
                         else (self._stream, self._taken))
        candidates = range(len(events)) if initializer else window
        free = [i for i in candidates
                if not taken[i] and _compatible(events[i], info.op_type, shape, dtype)]
        if not free:
            if initializer:
                self._own_initializers += 1
                return None
            nearest = next(((i, events[i]) for i in window if not taken[i]), None)
            self._fail(self._mismatch(k, info, shape, dtype, step, nearest))
        pick = self._pick(free, events, info)
        taken[pick] = True
        if initializer:
            self._replayed_initializers += 1
        else:
            self._replayed_random += 1
        return events[pick]

    def _pick(self, free: Sequence[int], events: Sequence[Event], info: RandomOpInfo) -> int:
        """The one matching rule, among A's compatible values not yet taken (``free``,
        indices into ``events``, in A's order): the draw of the same variable (an
        initializer traced in a tf.function knows its variable, so each pairs with its
        own), else of the same op name (the same program in another version), else the first.
        """
        wanted = self._renamed(info.variable) if info.variable else None
        if wanted is not None:
            for i in free:
                if self._renamed(random_attrs(events[i]).variable, rename=False) == wanted:
                    return i
        if info.op_name:
            for i in free:
                if random_attrs(events[i]).op_name == info.op_name:
                    return i
        return free[0]

    def _value(self, event: Event, info: RandomOpInfo) -> np.ndarray:
        try:
            return np.asarray(self.trace.array(event))
        except ArrayNotStoredError:
            self._fail(
                f"replay: a random op of run B ({info.op_type} at {info.call_site}) would "
                f"take random op seq {event.seq} of run A ({self.path}), but A holds no values "
                f"(recorded with capture='stats'). Expected a trace recorded with "
                f"capture='full'; re-record A, or replay only the variables "
                f"(--replay-random off).")

    def _mismatch(self, k: int, info: RandomOpInfo, shape: Sequence[int | None] | None, dtype: str,
                  step: int, a: tuple[int, Event] | None) -> str:
        b_shape = "[unknown rank]" if shape is None else str(list(shape))
        b_line = (f"  B: random op #{k}: {info.op_type} {dtype} {b_shape} at "
                  f"{info.call_site or '(unknown call site)'} (step {step})")
        if a is None:
            head = (f"replay: random op #{k} of run B has no counterpart in run A "
                    f"({self.path}): A recorded {len(self._stream)} random ops, and none "
                    f"is left for step {step}.")
            a_line = "  A: (none left)"
        else:
            event = a[1]
            index = self._position[event.seq]
            head = (f"replay: random op #{k} of run B does not match random op #{index} of run "
                    f"A ({self.path}).")
            a_line = (f"  A: random op #{index}: {random_attrs(event).op_type} {event.dtype} "
                      f"{list(event.shape or ())} at "
                      f"{event.call_site or '(unknown call site)'} "
                      f"(step {event.step}, seq {event.seq})")
        return "\n".join([
            head, a_line, b_line,
            "Expected the same kind of random op with the same shape and dtype, in the same "
            "order. If B creates its random ops in another order or has extra ones, replay only "
            "the variables (--replay-random off, or random=False), or re-record A with the "
            "same model code."])

    def _fail(self, message: str) -> NoReturn:
        self.error = self.error or message
        raise ReplayError(message)

    # -- initial variable values -------------------------------------------------------

    def _renamed(self, name: Any, rename: bool = True) -> str | None:
        """A variable name as A names it: without ``:0``, after the rename rules (B's names)."""
        if not isinstance(name, str):
            return None
        wanted = normalize_name(name)
        for rule in self.rename if rename else ():
            wanted = rule.apply(wanted)
        return wanted

    def initial_value(self, name: str, shape: Sequence[int], dtype: str) -> np.ndarray | None:
        """A's initial value for B's variable ``name``, or None if A has none."""
        if not self.variables:
            return None
        wanted = self._renamed(name)
        assert wanted is not None
        with self._lock:
            occurrence = self._initial_taken.get(wanted, 0)
            self._initial_taken[wanted] = occurrence + 1
        candidates = self._initial_values.get(wanted, [])
        event = candidates[occurrence] if occurrence < len(candidates) else None
        if event is None or not event.stored:
            with self._lock:
                self.not_replayed_variables.append(normalize_name(name))
            return None
        if tuple(event.shape or ()) != tuple(shape) or event.dtype != dtype:
            self._fail(
                f"replay: variable {normalize_name(name)!r} of run B is {dtype} "
                f"{list(shape)}, but {event.name!r} in run A ({self.path}) is {event.dtype} "
                f"{list(event.shape or ())} (seq {event.seq}, created at "
                f"{event.call_site or 'an unknown call site'}). Expected the "
                f"same shape and dtype; fix the model, map names with a rename rule, or "
                f"replay only the random values (--replay-variables off).")
        with self._lock:
            self.replayed_variables.append(normalize_name(name))
        return np.asarray(self.trace.array(event))

    # -- what the trace says -----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The ``replay`` entry of B's environment record."""
        source_env = self.trace.environment
        return {
            "source": self.path,
            "source_host": source_env.get("host"),
            "source_tensorflow": source_env.get("tensorflow_version"),
            "random": self.random,
            "variables": self.variables,
            "rename": [r.to_dict() for r in self.rename],
            "random_ops_in_source": len(self._stream) + len(self._initializers),
            "random_ops_replayed": self._replayed_random + self._replayed_initializers,
            "initializer_draws_kept": self._own_initializers,
            "variables_replayed": len(self.replayed_variables),
            "variables_not_replayed": list(self.not_replayed_variables),
            "error": self.error,
        }

    def close(self) -> None:
        self.trace.close()


def _compatible(event: Event, op_type: str, shape: Sequence[int | None] | None,
                dtype: str) -> bool:
    """Same distribution, dtype and shape (a dimension B's graph leaves open matches any)."""
    if random_family(random_attrs(event).op_type) != random_family(op_type) \
            or event.dtype != dtype:
        return False
    if shape is None:
        return True
    a_shape = tuple(event.shape or ())
    return len(a_shape) == len(shape) and all(b is None or a == b for a, b in zip(a_shape, shape))
