"""``diff --dask``: the value comparisons on a real dask.distributed cluster (127.0.0.1).

The traces are the committed samples (real TensorFlow recordings). The cluster's
workers are separate processes; the tests prove the values were compared there, and
that the result is the local diff's, field for field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tftrace.compare import divergence
from tftrace.compare.divergence import diff

distributed = pytest.importorskip("distributed")

SAMPLES = Path(__file__).resolve().parents[2] / "sample_traces"
A = SAMPLES / "bn_pitfall_training_true.zarr.zip"
B = SAMPLES / "bn_pitfall_training_missing.zarr.zip"
EAGER, SESSION = SAMPLES / "inception_v2_eager.zarr.zip", SAMPLES / "inception_v2_session.zarr.zip"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of two worker processes on 127.0.0.1, shared by the module's tests."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.mark.parametrize("a, b", [(A, B), (EAGER, SESSION)], ids=["diverging", "equivalent"])
def test_the_cluster_gives_the_local_result(scheduler: str, a: Path, b: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    local = diff(a, b)
    by_values = sum(1 for r in local.pairs if r.compared_by == "values")
    assert by_values > 0  # there is work for the cluster: pairs whose digests differ
    monkeypatch.setattr(divergence, "compare_stored", _refuse)
    remote = diff(a, b, dask=scheduler)
    assert remote.to_dict() == local.to_dict()
    assert remote.equivalent == local.equivalent


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a value comparison ran in the calling process")


def test_the_control_without_the_cluster_fails_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(divergence, "compare_stored", _refuse)
    with pytest.raises(AssertionError, match="calling process"):
        diff(A, B)


def test_first_stops_at_the_same_divergence(scheduler: str) -> None:
    local = diff(A, B, stop_at_first=True)
    remote = diff(A, B, stop_at_first=True, dask=scheduler)
    assert local.first_divergence is not None
    assert remote.to_dict() == local.to_dict()
    assert remote.stopped_early and any(r.skip_reason == "stopped" for r in remote.pairs)


def test_the_command_line_with_a_local_cluster_and_a_bad_scheduler(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tftrace", "diff", "--dask", "local:1", "--format", "json",
                           str(A), str(B)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    local = subprocess.run([sys.executable, "-m", "tftrace", "diff", "--format", "json", str(A), str(B)],
                           capture_output=True, text=True, timeout=300)
    assert done.stdout == local.stdout
    for scheduler, words in [("tcp://127.0.0.1:9", "cannot reach the scheduler"),
                             ("local:0", "expected local:N")]:
        bad = subprocess.run([sys.executable, "-m", "tftrace", "diff", "--dask", scheduler, str(A), str(B)],
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def _worker_environ(config: dict[str, Any],
                    monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None]]:
    import os

    import dask

    from tftrace.compare import distributed as engine

    # the nanny copies its spawn environment into this process's os.environ, where it
    # would then override the dask config of the next cluster
    for key in engine.WORKER_ENVIRON:
        monkeypatch.delenv(key, raising=False)
    with dask.config.set(config):
        client = engine.start("local:1")
    try:
        def read() -> tuple[str | None, str | None]:
            return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_")
        return list(client.run(read).values())
    finally:
        engine.close(client)


def test_local_workers_keep_freed_blocks_and_the_users_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    # dask's nanny alone gives MALLOC_TRIM_THRESHOLD_=65536 (the slow setting, docs/benchmarks.md)
    assert _worker_environ({}, monkeypatch) == [("268435456", "268435456")]
    mine = {"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": "4096"}}
    assert _worker_environ(mine, monkeypatch) == [("4096", "268435456")]
