"""Recording under tf.distribute and diffing per worker (recording/distributed.py,
compare/workers.py), on real runs of tests/recording/distributed_train.py:

- a single-process run (no strategy);
- a MirroredStrategy run on two logical CPU devices (one process, two replicas);
- two MultiWorkerMirroredStrategy runs of two worker processes each on 127.0.0.1 (TF_CONFIG),
  one of them with a planted per-worker difference (worker 1 doubles its update).

All six processes start together (module fixture) to keep the wall time down.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tftrace.cli import cli
from tftrace.format.reader import open_trace

SCRIPT = Path(__file__).with_name("distributed_train.py")
ROOT = SCRIPT.parent.parent.parent


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(strategy: str, out: Path, tf_config: dict | None = None, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, str(SCRIPT), strategy, str(out), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=out.parent)


def _cluster(out: Path, *extra: str) -> list[subprocess.Popen]:
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    return [_start("multi-worker", out, {"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": k}}, *extra)
            for k in range(2)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("distributed")
    paths = {"single": tmp / "single.zarr", "mirrored": tmp / "mirrored.zarr",
             "workers": tmp / "workers.zarr", "planted": tmp / "planted.zarr"}
    processes = [_start("single", paths["single"]), _start("mirrored", paths["mirrored"]),
                 *_cluster(paths["workers"]), *_cluster(paths["planted"], "1:2.0")]
    failures = []
    for process in processes:
        output, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            failures.append(output.decode(errors="replace")[-3000:])
    assert not failures, "\n\n".join(failures)
    return paths


def _diff(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["diff", *map(str, args)])
    return result.exit_code, result.output


def test_each_worker_records_its_own_trace(runs: dict[str, Path]) -> None:
    base = runs["workers"]
    assert not base.exists()
    for k in range(2):
        with open_trace(base.with_name(f"workers.worker-{k}.zarr")) as trace:
            assert trace.complete
            assert trace.environment["distribution"] == {
                "task_type": "worker", "task_index": k, "worker": k, "workers": 2,
                "replicas_per_worker": 1, "replicas": 2}
            names = {ev.name for ev in trace.events}
            assert f"inputs@replica-{k}" in names and f"inputs@replica-{1 - k}" not in names
            assert f"local_grads/kernel@replica-{k}" in names
            assert "loss" in names  # reduced across workers: once, no replica
            assert not [n for n in names if "/replica_" in n]  # mirrored variables once


def test_per_replica_values_are_each_replicas_own(runs: dict[str, Path]) -> None:
    """The replicas' inputs are the two halves of the single run's batch, and their local
    gradients add up to the single run's full-batch gradient (the all-reduce is a sum),
    which neither replica's alone is."""
    with open_trace(runs["single"]) as single, \
            open_trace(runs["workers"].with_name("workers.worker-0.zarr")) as w0, \
            open_trace(runs["workers"].with_name("workers.worker-1.zarr")) as w1:
        for step in range(2):
            halves = [w0.array("inputs@replica-0", step=step), w1.array("inputs@replica-1", step=step)]
            np.testing.assert_array_equal(np.concatenate(halves), single.array("inputs", step=step))
            local = w0.array("local_grads/kernel@replica-0", step=step) + \
                w1.array("local_grads/kernel@replica-1", step=step)
            np.testing.assert_allclose(local, single.array("local_grads/kernel", step=step),
                                       rtol=1e-5, atol=1e-6)
            assert not np.allclose(w0.array("local_grads/kernel@replica-0", step=step), local)
            # all-reduced: the same on both workers (one local replica each: strategy.run
            # returns a plain tensor, recorded under its plain name)
            np.testing.assert_array_equal(w0.array("grads/kernel", step=step),
                                          w1.array("grads/kernel", step=step))


def test_single_run_against_two_workers_is_equivalent(runs: dict[str, Path]) -> None:
    code, output = _diff(runs["single"], runs["workers"], "--format", "json")
    document = json.loads(output)
    assert code == 0, output
    assert document["mode"] == "agree" and document["equivalent"] is True
    assert document["layout_b"] == {"workers": 2, "replicas": 2}
    # the endpoints recorded inside strategy.run, and the per-replica gradients (before the
    # all-reduce) and layer outputs the recording captures there by default
    assert document["not_compared_per_replica"] == [
        "gradient dense/bias:0", "gradient dense/kernel:0", "endpoint inputs",
        "endpoint local_grads/kernel", "layer sequential", "layer sequential/dense"]
    for worker in document["workers"]:
        compared = {(p["name"], p["step"]): p["status"] for p in worker["report"]["pairs"]}
        for step in range(2):  # all-reduced gradients, updated weights, the reduced loss
            for name in ("grads/kernel", "grads/bias", "dense/kernel:0", "loss"):
                assert compared[(name, step)] in ("equal", "close"), (name, step)
        assert compared[("dense/kernel:0", 0)]  # the initial weights too


def test_planted_difference_is_found_on_its_worker(runs: dict[str, Path]) -> None:
    code, output = _diff(runs["single"], runs["planted"])
    assert code == 1
    assert output.startswith("tftrace diff (workers): DIVERGED (first on worker 1)\n"), output
    assert "worker 0: EQUIVALENT" not in output  # step 1's all-reduce carries it to worker 0 too
    assert "== worker 1 ==" in output
    worker_1 = output[output.index("== worker 1 =="):]
    assert "snapshot dense/kernel" in worker_1.splitlines()[2] or "dense/kernel" in worker_1
    # worker k with worker k: the same layout compares everything, per-replica values too
    code, output = _diff(runs["workers"], runs["planted"], "--format", "json")
    document = json.loads(output)
    assert code == 1 and document["mode"] == "paired"
    assert document["first_divergence_worker"] == 1
    first = document["workers"][1]["report"]["first_divergence"]
    assert first["name"] == "dense/kernel:0" and first["kind"] == "snapshot" and first["step"] == 0
    # the negative control of both: the same layouts, no plant, compare equal
    code, output = _diff(runs["workers"], runs["workers"])
    assert code == 0 and "worker 1: EQUIVALENT" in output


def test_mirrored_strategy_records_per_replica(runs: dict[str, Path]) -> None:
    with open_trace(runs["mirrored"]) as trace:
        names = [ev.name for ev in trace.events if ev.kind not in ("gradient", "layer", "op")]
        captured = {(ev.kind, ev.name) for ev in trace.events}
        assert trace.environment["distribution"] == {"replicas_per_worker": 2, "replicas": 2}
    assert {"inputs@replica-0", "inputs@replica-1", "local_grads/kernel@replica-1"} <= set(names)
    assert names.count("dense/kernel:0") == 1 + 2  # variable once, a snapshot per step
    # the gradients the tape captures inside strategy.run are per replica too
    assert {("gradient", "dense/kernel:0@replica-0"), ("gradient", "dense/kernel:0@replica-1")} <= captured
    code, output = _diff(runs["single"], runs["mirrored"])
    assert code == 0, output
    assert "B: 1 worker, 2 replicas" in output
    assert "not compared (values differ per replica, so they cannot agree with another layout): " \
        "gradient dense/bias:0, gradient dense/kernel:0, endpoint inputs, endpoint local_grads/kernel, " \
        "layer sequential, layer sequential/dense\n" in output
    code, output = _diff(runs["single"], runs["mirrored"], "--format", "json")
    pairs = json.loads(output)["workers"][0]["report"]["pairs"]
    compared = {(p["name"], p["step"]): p["status"] for p in pairs}
    for step in range(2):  # both replicas' all-reduced gradients were equal: compared as one
        assert compared[("grads/kernel", step)] in ("equal", "close")
