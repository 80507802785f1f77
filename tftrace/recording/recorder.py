"""The recorder: the event sink, and the one place that builds the capture mechanisms
and the eager, tf.function and Session adapters, handing each what it needs."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from typing import Any, Iterable, Iterator, Mapping

import tensorflow as tf

from tftrace.errors import TraceWriteError, UsageError
from tftrace.format.events import CAPTURED_KINDS, EndpointAttrs, EventAttrs
from tftrace.format.progress import Work
from tftrace.format.writer import TraceWriter
from tftrace.report.recording import observer_effect_warning, recording_summary
from tftrace.recording import distributed, environment
from tftrace.format.schema import check_name
from tftrace.format.status import RunStatus
from tftrace.recording.adapters import Adapters
from tftrace.recording.adapters.eager import EagerAdapter
from tftrace.recording.adapters.function import FunctionAdapter
from tftrace.recording.adapters.replaying import DrawReplay
from tftrace.recording.adapters.session import SessionAdapter
from tftrace.recording.against import AgainstRecording
from tftrace.recording.calls import CallCounter
from tftrace.recording.snapshots import take_snapshots
from tftrace.recording.capture.engines import CaptureEngines, RecordingSink
from tftrace.recording.capture.sink import CaptureLevels
from tftrace.recording.distributed import ReplicaNaming
from tftrace.recording.callsite import producer_call_site, user_call_site
from tftrace.recording.emitting import PreparedEmitter, emit_event, stage_value
from tftrace.recording.ending import SigtermGuard, run_status
from tftrace.recording.gaps import CompiledFunctions, GapList
from tftrace.recording.imports import PostImportHooks
from tftrace.recording.random_ops import RandomOpCapture
from tftrace.recording.replay import ReplaySource
from tftrace.recording.seeds import KERAS_SEED_MODULES, SeedControl
from tftrace.recording.session import GraphState, SessionCapture
from tftrace.recording.observers import FunctionObservers
from tftrace.recording.values import (handle_variable, in_function_value, is_resource_handle,
                                     is_symbolic, variable_value)
from tftrace.recording.variables import VariableCapture

_active: Recorder | None = None
_active_lock = threading.Lock()


class Recorder:
    """Records one run into a trace; returned by :func:`tftrace.record`.

    Attributes
    ----------
    path : str
        Where the trace is written.
    step : int
        The current training step (incremented by :meth:`next_step`).
    """

    def __init__(self, writer: TraceWriter | None, seeds: SeedControl,
                 replay: ReplaySource | None = None, levels: CaptureLevels | None = None,
                 against: AgainstRecording | None = None) -> None:
        self.path = str(writer.path) if writer is not None else None
        self.step = 0
        self.active = False
        self.seeds = seeds
        self.replay = replay
        self.against = against  # the comparison with trace A (recording/against.py), or None
        self._writer = writer
        self._graphs: weakref.WeakKeyDictionary[Any, GraphState] = weakref.WeakKeyDictionary()
        self._graphs_lock = threading.Lock()
        self._hooks = PostImportHooks()
        self._calls = CallCounter(self._hooks)
        self.sigterm = SigtermGuard()
        self.write_error: TraceWriteError | None = None
        self.gaps = GapList(writer)
        self.compiled = CompiledFunctions()
        self.replicas = ReplicaNaming(self.note_environment)
        # Each mechanism gets the sink (this recorder) and what else it needs, explicitly.
        self.variables = VariableCapture(self, self._calls, self.gaps, replay, self.graph_state)
        self.observers = FunctionObservers(self, self.gaps)
        self._sessions = SessionCapture(self, self.graph_state, self.variables, replay)
        draws = DrawReplay(self, replay) if replay is not None and replay.random else None
        self._eager = EagerAdapter(self, self.variables, draws)
        self.adapters = Adapters(
            self._eager, FunctionAdapter(self, self.observers, self.variables, self.not_observed, draws),
            SessionAdapter(self.graph_state, self.variables))
        self._random_ops = RandomOpCapture(seeds, self.variables, self.compiled, self.adapters)
        self.capture = CaptureEngines(
            RecordingSink(self, levels or CaptureLevels(), self.observers, self.graph_state,
                          self.compiled, self.gaps, self.variables, self.replicas),
            self._hooks.after_import)

    # -- public API -------------------------------------------------------------------

    @property
    def operation_seed(self) -> int:
        """The op seed the next random op gets; settable, as in DeterministicRandomTestTool."""
        return self.seeds.operation_seed

    @operation_seed.setter
    def operation_seed(self, value: int) -> None:
        self.seeds.operation_seed = value

    def endpoint(self, name: str, value: Any) -> None:
        """Record a named value at the current step.

        Parameters
        ----------
        name : str
            The endpoint's name; repeating a name in a step counts occurrences.
        value : tf.Tensor, tf.Variable (or Keras 3 variable), numpy array or Python scalar
            Eager values are recorded now. A graph tensor is recorded by each later
            ``Session.run`` that computes it anyway, at that run's step; a tensor in
            a ``tf.function`` being traced is recorded on every execution, and so is
            a variable there: its value at this point of each execution.
        """
        check_name(name, "endpoint name")  # here, not when a tf.function runs
        parts = self.replicas.parts(name, value)  # under tf.distribute: per replica, or once
        if len(parts) > 1:
            for part_name, part in parts:
                self.endpoint(part_name, part)
            return
        name, value = parts[0]
        call_site = user_call_site(2)
        if is_resource_handle(value):  # a variable's handle stands for the variable
            value = handle_variable(value, [info.variable for info in self.variables.seen], name)
        value = variable_value(value)
        if is_symbolic(value):
            # The line that made the tensor, when its graph knows it (not a wrapper's line).
            call_site = producer_call_site(value) or call_site
        attrs = EndpointAttrs(call_site=call_site)
        value = in_function_value(value)
        self.adapters.for_graph(value.graph if is_symbolic(value) else None).endpoint(
            name, value, attrs)

    def endpoints(self, values: Mapping[str, Any], prefix: str = "") -> None:
        """Record every entry of ``values`` (e.g. tf-slim ``end_points``) as ``prefix + key``."""
        for key, value in values.items():
            self.endpoint(f"{prefix}{key}", value)

    def next_step(self) -> int:
        """Mark a training step boundary; returns the new step number."""
        self.variables.record_pending_eager()
        self.step += 1
        if self.replay is not None:
            self.replay.on_next_step(self.step)
        return self.step

    def snapshot_variables(self) -> None:
        """Record the current value of every variable seen, at the current step.

        Eager variables are read directly; graph variables through the last Session
        that ran their graph (variables of a graph never run are skipped).
        """
        take_snapshots(self.variables, self._graphs.get, self._sessions.read, self.emit)

    def written(self) -> Work | None:
        """Events and value bytes written so far (progress of ``tftrace record``)."""
        return self._writer.progress() if self._writer is not None else None

    def note_environment(self, **fields: Any) -> None:
        """Add fields to the trace's environment record (e.g. how a value was obtained)."""
        if self._writer is not None:
            self._writer.update_environment(**fields)

    # -- used by the adapters ---------------------------------------------------------

    def not_observed(self, kind: str, name: str, function: str, detail: str = "",
                     call_site: str | None = None) -> None:
        """Something inside the XLA-compiled ``function`` that cannot be observed."""
        self.compiled.note(function, kind)
        self.gaps.note(kind, name, "xla", detail, function=function, call_site=call_site)
        self._writer_note_compiled()

    def session_observer_effect(self, watches: list[Any]) -> None:
        """Session runs leave out watched tensors whose fetch would change their results."""
        with self.gaps.deferred():
            for watch in watches:
                watch.left_out = True
                name = watch.name if watch.info is None else watch.info.name
                self.gaps.note(watch.kind, name, "observer-effect", f"graph tensor {watch.tensor.name}",
                               call_site=watch.call_site or getattr(watch.info, "call_site", None))
                if watch.kind not in CAPTURED_KINDS:  # many: the end summary counts them
                    print(observer_effect_warning(watch.kind, name, None), file=sys.stderr)

    def _writer_note_compiled(self) -> None:
        if self._writer is not None and not self._writer.closed and self.active:
            self._writer.update_environment(compiled_functions=self.compiled.to_list())

    def emit(self, kind: str, name: str, value: Any, attrs: EventAttrs,
             keep_value: bool | None = None) -> int | None:
        return emit_event(self, self._writer, kind, name, value, attrs, keep_value)

    def prepare(self, kind: str, name: str, attrs: EventAttrs,
                keep_value: bool | None = None) -> PreparedEmitter:
        return PreparedEmitter(self, self._writer, kind, name, attrs, keep_value)

    def stage(self, kind: str, value: Any) -> object | None:
        return stage_value(self, self._writer, kind, value)

    def graph_state(self, graph: Any) -> GraphState:
        with self._graphs_lock:
            state = self._graphs.get(graph)
            if state is None:
                state = self._graphs[graph] = GraphState(self, graph, self.variables,
                                                         self.observers.check,
                                                         self.session_observer_effect)
            return state

    # -- lifetime ---------------------------------------------------------------------

    def start(self) -> None:
        global _active
        with _active_lock:
            if _active is not None:
                raise UsageError(
                    f"a recording to {_active.path} is already active; expected one "
                    f"recorder at a time, got a second one for {self.path}")
            _active = self
        self.active = True
        self.sigterm.install()
        self._hooks.install()
        self._calls.install()
        self.seeds.install()
        for module_name in KERAS_SEED_MODULES:
            self._hooks.after_import(module_name, self.seeds.patch_keras)
        self.variables.install()
        self._eager.install()
        self._random_ops.install()
        self._sessions.install()
        self.observers.install()
        self.capture.install()

    def stop(self, status: RunStatus | None = None) -> None:
        global _active
        status = status or RunStatus("completed")
        try:
            if self.active:
                self.variables.record_pending_eager()
                self.variables.record_unvalued()
                self._note_graph_endpoints()
        finally:
            self.active = False
            self.capture.uninstall()
            self.observers.uninstall()
            self._sessions.uninstall()
            self._random_ops.uninstall()
            self._eager.uninstall()
            self.variables.uninstall()
            self.seeds.uninstall()
            self._calls.uninstall()
            self._hooks.uninstall()
            self.sigterm.uninstall()
            with _active_lock:
                if _active is self:
                    _active = None
            if self._writer is not None:
                self._close_writer(status)

    def _close_writer(self, status: RunStatus) -> None:
        assert self._writer is not None
        if self.write_error is not None and status.completed:
            status = run_status(self.write_error)  # events were lost: not a completed recording
        error = None if status.exception_type is None else \
            f"{status.exception_type}: {status.message}"
        fields: dict[str, Any] = {"steps": self.step + 1, "error": error,
                                  "not_captured": self.gaps.to_list(),
                                  "compiled_functions": self.compiled.to_list(),
                                  "observer_check": self.observers.check.stats.to_dict(),
                                  "keras_version": environment.keras_version(self._calls.used),
                                  "kernels": {**environment.threading_and_kernels(),
                                              "statistics": self._statistics_path()}}
        if self.replay is not None:
            fields["replay"] = self.replay.summary()
        if self.against is not None:
            fields["against"] = self.against.summary()
        try:
            self._writer.update_environment(**fields)
            self._writer.close(complete=status.completed, status=status)
        except TraceWriteError as exc:
            if self.write_error is None:
                self.write_error = exc
                raise
            # the trace already failed: what it holds stays readable (killed, no end record)
        finally:
            print(recording_summary(str(self._writer.path), dict(self._writer.counts), status,
                                    self.gaps.to_list(), self.write_error), file=sys.stderr)

    def _statistics_path(self) -> str | None:
        """How this recording computed in-graph statistics (summaries.py), if it did."""
        return "+".join(sorted(self.observers.statistics_paths)) or None

    def _note_graph_endpoints(self) -> None:
        """Graph endpoints that no Session.run computed: asked for, not captured."""
        for state in list(self._graphs.values()):
            for watch, fetchable in state.never_recorded_endpoints():
                self.gaps.note("endpoint", watch.name,
                               "never-computed" if fetchable else "not-fetchable",
                               f"graph tensor {watch.tensor.name}", call_site=watch.call_site,
                               write=False)


def active_recorder() -> Recorder | None:
    """The recorder of the current ``record()`` block, or None."""
    return _active


@contextlib.contextmanager
def record(path: str | os.PathLike[str] | None, *, seed: int = 42,
           seed_mode: str = "num_random_ops", capture: str = "full", overwrite: bool = False,
           replay: ReplaySource | None = None, levels: CaptureLevels | None = None,
           against: AgainstRecording | None = None) -> Iterator[Recorder]:
    """See :func:`tftrace.record` (tftrace/against.py builds ``against``); ``path=None``: replay only."""
    if _active is not None:
        where = os.fspath(path) if path is not None else "a replay without recording"
        raise UsageError(f"a recording to {_active.path} is already active; expected one recorder "
                         f"at a time, got a second one for {where}")
    seeds = SeedControl(seed, seed_mode)
    levels = levels or CaptureLevels()
    writer = None
    if path is not None:
        capture = "stats" if against is not None else capture
        env = environment.collect(seed=seed, seed_mode=seed_mode, capture=capture)
        distribution = distributed.cluster()  # one trace per worker under tf.distribute
        env.update({"capture_levels": levels.to_dict()},
                   **({"distribution": distribution} if distribution is not None else {}),
                   **({"replay": replay.summary()} if replay is not None else {}))
        path = distributed.worker_path(path, distribution)
        writer = TraceWriter.create(path, environment=env, capture=capture, overwrite=overwrite) \
            if against is None else against.create_writer(path, env, overwrite)
    recorder = Recorder(writer, seeds, replay, levels, against)
    try:
        recorder.start()
    except BaseException as exc:
        recorder.stop(run_status(exc))
        raise
    error: BaseException | None = None
    try:
        yield recorder
    except BaseException as exc:
        error = exc  # a stop at the first divergence, even wrapped by TensorFlow, ends the block only
        if against is None or not against.stopped:
            raise
    finally:
        # The end record says how the block ended: completed, raised, interrupted or
        # stopped. A process that dies before reaching this point leaves no end record.
        stopped = against is not None and against.stopped
        recorder.stop(RunStatus("stopped") if stopped else run_status(error, recorder.sigterm.received))
        write_error = recorder.write_error
        if write_error is not None and error is not write_error:
            # the trace could not be written: that, not what TensorFlow made of it, is the error
            raise write_error from error


@contextlib.contextmanager
def replay(source: str | os.PathLike[str], *, record_to: str | os.PathLike[str] | None = None,
           random: bool = True, variables: bool = True, rename: Iterable[Any] | None = None,
           seed: int = 42, seed_mode: str = "num_random_ops", capture: str = "full",
           overwrite: bool = False, levels: CaptureLevels | None = None,
           against: AgainstRecording | None = None) -> Iterator[Recorder]:
    """See :func:`tftrace.replay`."""
    if _active is not None:
        raise UsageError(f"a recording to {_active.path} is already active; expected one recorder "
                         f"at a time, got a replay of {os.fspath(source)}")
    if record_to is not None and \
            os.path.realpath(os.fspath(record_to)) == os.path.realpath(os.fspath(source)):
        raise UsageError(f"replay would record over its own source {os.fspath(source)}; "
                         f"expected record_to to be another path")
    source_replay = ReplaySource(source, random=random, variables=variables, rename=rename)
    try:
        with record(record_to, seed=seed, seed_mode=seed_mode, capture=capture, overwrite=overwrite,
                    replay=source_replay, levels=levels, against=against) as recorder:
            yield recorder
    finally:
        source_replay.close()


def endpoint(name: str, value: Any) -> None:
    """Record ``value`` on the active recorder; no-op without one."""
    recorder = _active
    if recorder is not None:
        recorder.endpoint(name, value)


def next_step() -> int | None:
    """``next_step()`` on the active recorder; None without one."""
    recorder = _active
    return recorder.next_step() if recorder is not None else None


def snapshot_variables() -> None:
    """``snapshot_variables()`` on the active recorder; no-op without one."""
    recorder = _active
    if recorder is not None:
        recorder.snapshot_variables()
