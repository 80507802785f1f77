"""What the two runs were (``trace_info``), and what differs between the machines they were
recorded on, as far as kernels care (the diff's notes).

Never imports TensorFlow: reads the ``cpu`` and ``kernels`` environment entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from tftrace.compare.dataflow import differing_levels
from tftrace.compare.result import Note, TraceInfo
from tftrace.format.gaps import not_captured

if TYPE_CHECKING:
    from tftrace.format.reader import Trace

#: The kernel settings compared, in the order the notes list them.
KERNEL_SETTINGS = ("onednn", "intra_op_threads", "inter_op_threads", "op_determinism")


def trace_info(trace: Trace) -> TraceInfo:
    """A trace's line in the report: path, completeness, TensorFlow version, host, replay."""
    env = trace.environment
    versions = env.get("versions")
    tf = versions.get("tensorflow") if isinstance(versions, Mapping) else \
        env.get("tensorflow_version", env.get("tensorflow"))
    host = env.get("host")
    replay = env.get("replay")
    status = trace.status
    return TraceInfo(str(trace.path), trace.complete, len(trace.events),
                     tf if isinstance(tf, str) else None, host if isinstance(host, str) else None,
                     replay if isinstance(replay, Mapping) else None, status=status.status,
                     exception_type=status.exception_type, exception_message=status.message,
                     signal=status.signal, not_captured=not_captured(trace))


def run_notes(a: Trace, b: Trace) -> list[Note]:
    """The notes of a diff about the runs: a run that ended early, how the machines'
    kernels differ, streams captured at other levels."""
    notes = []
    for side, trace in (("a", a), ("b", b)):
        if not trace.complete:
            notes.append(Note("ends-early", {"side": side, "last_seq": trace.events[-1].seq
                                             if trace.events else None}))
    notes.extend(machine_notes(a.environment, b.environment))
    levels = differing_levels(a.environment, b.environment)
    if levels:
        notes.append(Note("capture-levels", {"streams": [list(level) for level in levels]}))
    return notes


def machine_notes(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> list[Note]:
    """What differs between the two machines' kernels: CPU instruction sets, oneDNN,
    threads (each picks other kernels, which round differently in the last bits)."""
    notes = []
    cpu_a, cpu_b = env_a.get("cpu"), env_b.get("cpu")
    if isinstance(cpu_a, Mapping) and isinstance(cpu_b, Mapping):
        flags_a, flags_b = cpu_a.get("flags"), cpu_b.get("flags")
        if isinstance(flags_a, list) and isinstance(flags_b, list) and flags_a != flags_b:
            only_a = sorted(set(map(str, flags_a)) - set(map(str, flags_b)))
            only_b = sorted(set(map(str, flags_b)) - set(map(str, flags_a)))
            notes.append(Note("cpu-flags", {"only_a": only_a, "only_b": only_b}))
        elif cpu_a.get("model") != cpu_b.get("model"):
            notes.append(Note("cpu-model", {"a": cpu_a.get("model"), "b": cpu_b.get("model")}))
    kernels_a, kernels_b = env_a.get("kernels"), env_b.get("kernels")
    if isinstance(kernels_a, Mapping) and isinstance(kernels_b, Mapping):
        for key in KERNEL_SETTINGS:
            if kernels_a.get(key) != kernels_b.get(key):
                notes.append(Note("kernel-setting", {"setting": key, "a": kernels_a.get(key),
                                                     "b": kernels_b.get(key)}))
        # How in-graph statistics were computed (recording/summaries.py), when both runs
        # computed some: the two ways agree up to the mean's last bits.
        paths = kernels_a.get("statistics"), kernels_b.get("statistics")
        if all(paths) and paths[0] != paths[1]:
            notes.append(Note("kernel-setting", {"setting": "statistics", "a": paths[0], "b": paths[1]}))
    return notes
