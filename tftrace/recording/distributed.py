"""Recording under ``tf.distribute``: one trace per worker, values named per replica.

- **Which worker**: ``TF_CONFIG`` (the variable ``MultiWorkerMirroredStrategy`` reads)
  says the task type and index and the cluster; :func:`cluster` turns it into the
  trace's ``distribution`` environment field, and :func:`worker_path` gives each worker
  its own trace: ``{worker}`` in the path is replaced by the worker's index, else a
  cluster of several workers inserts ``.worker-K`` before the suffix (``run.zarr`` ->
  ``run.worker-1.zarr``). Worker indices are MultiWorkerMirroredStrategy's: the chief
  is 0 and workers follow it. A task that does not train (``evaluator``, ``ps``) gets
  its type and index instead (``run.evaluator-0.zarr``, ``run-ps-1.zarr`` for
  ``run-{worker}.zarr``), so that no two tasks of a cluster write the same trace; a
  ``TF_CONFIG`` whose task would still share a trace with another (an index outside the
  cluster's list, a type that is not a plain word) is refused.
- **Per replica or once**: an endpoint recorded inside ``strategy.run`` on one of
  several replicas is named ``NAME@replica-R`` (R the replica's index in the sync group,
  global across workers); a ``PerReplica`` value recorded outside is split the same way;
  a ``Mirrored`` value is recorded once. Mirrored variables are recorded once, as their
  first component: the copies on the other devices (``.../replica_1``) are left out
  (:func:`is_replica_copy`).

The diff reads these names back without TensorFlow (compare/workers.py).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable

import tensorflow as tf

from tftrace.errors import UsageError
from tftrace.format.rules import REPLICA_SEPARATOR, WORKER_FIELD, task_trace_path, worker_trace_path

#: Task types that train (MultiWorkerMirroredStrategy's workers), in index order.
TRAINING_TASKS = ("chief", "worker")
_TASK_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REPLICA_COPY = re.compile(r"/replica_\d+(:\d+)?$")


def cluster(tf_config: str | None = None) -> dict[str, Any] | None:
    """The ``distribution`` environment field from ``TF_CONFIG``, or None without one.

    ``{"task_type", "task_index", "worker", "workers"}``: ``worker`` is this process's
    index among the training tasks (chief first) and ``workers`` their number; both
    None for a task that does not train (``evaluator``, ``ps``).
    """
    text = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not text:
        return None
    try:
        config = json.loads(text)
        spec = config.get("cluster") or {}
        task = config.get("task") or {}
        task_type, task_index = str(task.get("type", "")), int(task.get("index", 0))
        listed = {str(kind): len(tasks or []) for kind, tasks in spec.items()}
    except (ValueError, TypeError, AttributeError):
        raise UsageError(f"TF_CONFIG is not valid JSON with 'cluster' and 'task' ({text[:80]!r}); "
                         "expected the format tf.distribute reads") from None
    _check_task(task_type, task_index, listed)
    counts = {kind: listed.get(kind, 0) for kind in TRAINING_TASKS}
    workers = sum(counts.values())
    worker = None
    if task_type == "chief":
        worker = task_index
    elif task_type == "worker":
        worker = counts["chief"] + task_index
    return {"task_type": task_type, "task_index": task_index,
            "worker": worker, "workers": workers if worker is not None else None}


def _check_task(task_type: str, task_index: int, listed: dict[str, int]) -> None:
    """Refuse a task whose trace would be another task's (module docstring)."""
    if not task_type:
        return  # no task: a lone process
    where = f"TF_CONFIG task {{'type': {task_type!r}, 'index': {task_index}}}"
    if not _TASK_TYPE.match(task_type):
        raise UsageError(f"{where}: expected a task type that is a plain word (chief, worker, "
                         "evaluator, ps, ...); it names the task's trace")
    if task_index < 0:
        raise UsageError(f"{where}: expected an index of 0 or more")
    # a training task must be in the cluster's list; another only when the cluster lists its type
    count = listed.get(task_type, 0 if task_type in TRAINING_TASKS else None)
    if count is not None and task_index >= count:
        raise UsageError(f"{where}: the cluster lists {count} {task_type} task"
                         f"{'s' if count != 1 else ''}; expected an index below {count} (a task "
                         "outside the list could write another task's trace)")


def worker_path(path: str | os.PathLike[str], distribution: dict[str, Any] | None) -> str:
    """This task's trace path (module docstring); ``path`` itself for a lone process."""
    text = os.fspath(path)
    worker = (distribution or {}).get("worker")
    workers = (distribution or {}).get("workers") or 0
    task_type = (distribution or {}).get("task_type")
    if worker is None and task_type:  # a task that does not train: evaluator-0, ps-1
        task = f"{task_type}-{(distribution or {}).get('task_index', 0)}"
        return text.replace(WORKER_FIELD, task) if WORKER_FIELD in text else task_trace_path(text, task)
    if WORKER_FIELD in text:
        return text.replace(WORKER_FIELD, str(worker if worker is not None else 0))
    if worker is None or workers <= 1:
        return text
    return worker_trace_path(text, worker)


def is_replica_copy(variable: Any) -> bool:
    """True for a mirrored variable's copy on a device other than the first."""
    return bool(_REPLICA_COPY.search(str(getattr(variable, "name", "")))) and \
        tf.distribute.has_strategy()


class ReplicaNaming:
    """Splits and names the values of ``rec.endpoint`` per replica (module docstring).

    ``note`` adds fields to the environment: the replica counts, once, when a
    distributed value is first seen.
    """

    def __init__(self, note: Callable[..., None]) -> None:
        self.distribution = cluster() or {}
        self._note = note
        self._noted = False

    def parts(self, name: str, value: Any) -> list[tuple[str, Any]]:
        """``[(name, value)]`` as recorded: one entry per replica, or the value once."""
        if isinstance(value, tf.distribute.DistributedValues):
            components = list(value.values)
            workers = self.distribution.get("workers") or 1
            if _is_mirrored(value) or len(components) * workers == 1:
                return [(name, components[0])]
            first = (self.distribution.get("worker") or 0) * len(components)
            self._note_replicas(None, len(components))
            return [(replica_name(name, first + i), part) for i, part in enumerate(components)]
        context = tf.distribute.get_replica_context()
        if context is None or not tf.distribute.has_strategy():
            return [(name, value)]
        in_sync = context.num_replicas_in_sync
        if in_sync <= 1:
            return [(name, value)]
        replica = tf.get_static_value(context.replica_id_in_sync_group)
        if replica is None:
            return [(name, value)]
        workers = self.distribution.get("workers") or 1
        self._note_replicas(in_sync, max(1, in_sync // workers))
        return [(replica_name(name, int(replica)), value)]

    def _note_replicas(self, in_sync: int | None, local: int) -> None:
        if self._noted:
            return
        self._noted = True
        workers = self.distribution.get("workers") or 1
        self._note(distribution={**self.distribution, "replicas_per_worker": local,
                                 "replicas": in_sync if in_sync is not None else local * workers})


def replica_name(name: str, replica: int) -> str:
    """``grads/w`` on replica 1 -> ``grads/w@replica-1``."""
    return f"{name}{REPLICA_SEPARATOR}{replica}"


def _is_mirrored(value: Any) -> bool:
    from tensorflow.python.distribute import values as values_lib

    return isinstance(value, (values_lib.Mirrored, values_lib.DistributedVariable))
