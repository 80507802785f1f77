"""diff and check skip equal arrays by digest; a CRC digest counts only with equal statistics.

A real CRC collision cannot be produced on demand, so the collision tests rewrite one
trace's log to carry the other array's digest: the input a collision would give.
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from tftrace.lint import check
from tftrace.compare.divergence import diff
from tftrace.format import digest
from tftrace.format.reader import Trace, open_trace
from tftrace.format.schema import Event, Stats

RNG = np.random.default_rng(5)
WEIGHTS = RNG.standard_normal((16, 8)).astype(np.float32)
CRC = "crc32c-tree-4MiB:" + "0f" * 32


def _variable(digest: str, stats: Stats) -> Event:
    return Event(seq=0, kind="variable", name="w", shape=(16, 8), dtype="float32", stats=stats,
                 digest=digest, array_key="arrays/0")


def test_equal_crc_digest_with_different_statistics_is_not_equal() -> None:
    a = _variable(CRC, Stats(size=128, min=-2.0, max=2.0, mean=0.1))
    b = _variable(CRC, Stats(size=128, min=-2.0, max=2.0, mean=0.2))
    assert not digest.digests_prove_equal(a, b)
    assert digest.digests_prove_equal(a, _variable(CRC, Stats(size=128, min=-2.0, max=2.0, mean=0.1)))


def _set_digests(path: Path, digests: dict[str, str]) -> None:
    """Rewrite the log so the named events carry the given digests (values untouched)."""
    for segment in sorted((path / "log").iterdir()):
        records = list(msgpack.Unpacker(open(segment, "rb"), raw=False))
        for record in records:
            if record.get("type") == "event" and record["name"] in digests:
                record["digest"] = digests[record["name"]]
        segment.write_bytes(b"".join(msgpack.packb(r, use_bin_type=True) for r in records))


def test_equal_arrays_are_compared_by_crc_digest_without_reading(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, ev, var, write_trace) -> None:
    a = write_trace(tmp_path / "a.zarr", [var("w", WEIGHTS), var("b", np.arange(4, dtype=np.int64))])
    b = write_trace(tmp_path / "b.zarr", [var("w", WEIGHTS.copy()), var("b", np.arange(4, dtype=np.int64))])
    assert all(ev.digest.startswith("crc32c-tree-4MiB:") for ev in open_trace(a).events)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("array read despite equal digests and statistics")
    monkeypatch.setattr(Trace, "iter_blocks", refuse)
    monkeypatch.setattr(Trace, "array", refuse)
    result = diff(a, b)
    assert result.equivalent and {p.compared_by for p in result.pairs} == {"digest"}


@pytest.mark.parametrize("capture", ["full", "stats"])
def test_diff_does_not_trust_a_crc_collision_with_different_statistics(tmp_path: Path, capture: str, var, write_trace) -> None:
    changed = WEIGHTS.copy()
    changed[3, 4] += 1.0
    a = write_trace(tmp_path / "a.zarr", [var("w", WEIGHTS)], capture=capture)
    b = write_trace(tmp_path / "b.zarr", [var("w", changed)], capture=capture)
    _set_digests(b, {"w": open_trace(a).events[0].digest})  # as if the CRCs collided
    result = diff(a, b)
    assert not result.equivalent
    first = result.first_divergence
    if capture == "full":
        assert (first.compared_by, first.problem) == ("values", "values")
        assert first.values is not None and first.values.mismatched == 1
    else:
        assert (first.compared_by, first.problem) == ("statistics", "statistics")


def test_check_does_not_call_a_crc_collision_identical_initial_values(tmp_path: Path, var, write_trace) -> None:
    other = RNG.standard_normal((16, 8)).astype(np.float32)
    path = write_trace(tmp_path / "t.zarr", [var("a/w", WEIGHTS), var("b/w", WEIGHTS.copy()),
                                              var("c/w", other)])
    digest = open_trace(path).events[0].digest
    assert open_trace(path).events[1].digest == digest  # equal arrays: equal digests
    (finding,) = check(path).findings
    assert finding.code == "identical-initial-values" and finding.seqs == (0, 1)
    _set_digests(path, {"c/w": digest})  # c/w collides with a/w and b/w, statistics differ
    (finding,) = check(path).findings
    assert finding.code == "identical-initial-values" and finding.seqs == (0, 1)


def test_check_trusts_equal_sha256_digests_alone(tmp_path: Path, var, write_trace) -> None:
    other = RNG.standard_normal((16, 8)).astype(np.float32)
    path = write_trace(tmp_path / "t.zarr", [var("a/w", WEIGHTS), var("c/w", other)])
    digest = "sha256-tree-4MiB:" + "0f" * 32
    _set_digests(path, {"a/w": digest, "c/w": digest})
    (finding,) = check(path).findings
    assert finding.code == "identical-initial-values" and finding.seqs == (0, 1)
