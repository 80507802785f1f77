"""Every task of a ``TF_CONFIG`` cluster records its own trace: workers by their index,
an ``evaluator`` or ``ps`` by its type and index, and a ``TF_CONFIG`` that would still
make two tasks share a trace is refused (one line, exit 2).

The recordings are real (eager TensorFlow values, one per task, in this process with
``TF_CONFIG`` set as each task would have it); each trace must hold its own task's value,
which fails when two tasks write the same path (they record with ``overwrite=True``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.compare.workers import worker_paths
from tftrace.errors import UsageError
from tftrace.recording.distributed import cluster, worker_path

CLUSTER = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2", "127.0.0.1:3"],
           "ps": ["127.0.0.1:4", "127.0.0.1:5"]}
#: (task type, index) -> the trace of ``run.zarr`` and of ``run-{worker}.zarr``
TASKS = {("chief", 0): ("run.worker-0.zarr", "run-0.zarr"),
         ("worker", 0): ("run.worker-1.zarr", "run-1.zarr"),
         ("worker", 1): ("run.worker-2.zarr", "run-2.zarr"),
         ("evaluator", 0): ("run.evaluator-0.zarr", "run-evaluator-0.zarr"),
         ("ps", 0): ("run.ps-0.zarr", "run-ps-0.zarr"),
         ("ps", 1): ("run.ps-1.zarr", "run-ps-1.zarr")}


def tf_config(task_type: str, index: int, spec: dict[str, list[str]] = CLUSTER) -> str:
    return json.dumps({"cluster": spec, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("pattern", [0, 1], ids=["plain", "worker-field"])
def test_each_task_records_its_own_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         pattern: int) -> None:
    given = tmp_path / ("run.zarr" if pattern == 0 else "run-{worker}.zarr")
    for number, (task_type, index) in enumerate(TASKS):
        monkeypatch.setenv("TF_CONFIG", tf_config(task_type, index))
        with tftrace.record(given, overwrite=True) as rec:
            rec.endpoint("task", tf.constant([float(number)]))
    for number, ((task_type, index), paths) in enumerate(TASKS.items()):
        with tftrace.open(tmp_path / paths[pattern]) as trace:
            assert trace.array("task").tolist() == [float(number)], (task_type, index)
            assert trace.environment["distribution"]["task_type"] == task_type
            assert trace.environment["distribution"]["task_index"] == index
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p[pattern] for p in TASKS.values())
    # the worker set holds the three training tasks only
    assert [Path(p).name for p in worker_paths(str(given)) or []] == \
        [paths[pattern] for paths in list(TASKS.values())[:3]]


def test_an_evaluator_beside_a_lone_worker_does_not_take_its_trace() -> None:
    lone = {"worker": ["127.0.0.1:2"]}
    assert worker_path("run.zarr", cluster(tf_config("worker", 0, lone))) == "run.zarr"
    assert worker_path("run.zarr", cluster(tf_config("evaluator", 0, lone))) == "run.evaluator-0.zarr"
    assert worker_path("run.zarr.zip", cluster(tf_config("evaluator", 0, lone))) == \
        "run.evaluator-0.zarr.zip"
    assert worker_path("s3://b/run-{worker}.zarr", cluster(tf_config("ps", 1))) == "s3://b/run-ps-1.zarr"


@pytest.mark.parametrize("task_type, index, message", [
    ("chief", 1, "TF_CONFIG task {'type': 'chief', 'index': 1}: the cluster lists 1 chief task; "
                 "expected an index below 1 (a task outside the list could write another task's trace)"),
    ("worker", 2, "TF_CONFIG task {'type': 'worker', 'index': 2}: the cluster lists 2 worker tasks; "
                  "expected an index below 2 (a task outside the list could write another task's trace)"),
    ("ps", 2, "TF_CONFIG task {'type': 'ps', 'index': 2}: the cluster lists 2 ps tasks; "
              "expected an index below 2 (a task outside the list could write another task's trace)"),
    ("worker", -1, "TF_CONFIG task {'type': 'worker', 'index': -1}: expected an index of 0 or more"),
    ("../x", 0, "TF_CONFIG task {'type': '../x', 'index': 0}: expected a task type that is a plain "
                "word (chief, worker, evaluator, ps, ...); it names the task's trace"),
], ids=["second-chief", "worker-outside", "ps-outside", "negative", "path-in-type"])
def test_a_task_that_would_share_a_trace_is_refused(task_type: str, index: int, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        cluster(tf_config(task_type, index))
    assert str(raised.value) == message


def test_record_refuses_it_with_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "train.py"
    script.write_text("import tftrace\ntftrace.endpoint('x', 1.0)\n")
    out = tmp_path / "run.zarr"
    monkeypatch.setenv("TF_CONFIG", tf_config("chief", 1))
    refused = CliRunner().invoke(cli, ["record", "-o", str(out), str(script)])
    assert refused.exit_code == 2
    assert refused.output.splitlines() == [
        "Error: TF_CONFIG task {'type': 'chief', 'index': 1}: the cluster lists 1 chief task; "
        "expected an index below 1 (a task outside the list could write another task's trace)"]
    assert list(tmp_path.iterdir()) == [script]  # nothing written
    monkeypatch.setenv("TF_CONFIG", tf_config("chief", 0))  # control: the same command records
    done = CliRunner().invoke(cli, ["record", "-o", str(out), str(script)])
    assert done.exit_code == 0, done.output
    with tftrace.open(tmp_path / "run.worker-0.zarr") as trace:
        assert np.asarray(trace.array("x")) == 1.0
