"""Content digests and statistics: the CRC-32C, CRC-32 and sha256 trees, older digests, and the fused
statistics pass."""

from __future__ import annotations

import hashlib
import shutil
import zlib
from pathlib import Path

import google_crc32c
import ml_dtypes
import msgpack
import numpy as np
import pytest

import tftrace
from tftrace.errors import UsageError
from tftrace.format import arrays, chunkio, digest
from tftrace.format.digest import (CRC32_TREE_SCHEME, DIGEST_LEAF_BYTES, DIGEST_SCHEME, SHA256_TREE_SCHEME,
                                   Summary)
from tftrace.format.schema import Event, Stats
from tftrace.format.writer import TraceWriter

RNG = np.random.default_rng(11)
LEAF_FLOATS = DIGEST_LEAF_BYTES // 4


SCHEMES = [DIGEST_SCHEME, CRC32_TREE_SCHEME, SHA256_TREE_SCHEME]


def _digest(value: np.ndarray, scheme: str = DIGEST_SCHEME) -> str:
    dtype = arrays.logical_dtype(value)
    stored, _ = arrays.encode(value, dtype)
    return digest.digest(stored, dtype, value.shape, scheme)


def _by_hand(value: np.ndarray, dtype: str, scheme: str = DIGEST_SCHEME) -> str:
    """The construction docs/format.md describes, written out with google-crc32c's Python
    function (on bytes), zlib and hashlib."""
    data = np.ascontiguousarray(value).tobytes()
    pieces = [data[i:i + DIGEST_LEAF_BYTES] for i in range(0, len(data), DIGEST_LEAF_BYTES)]
    if scheme == "crc32c-tree-4MiB":
        leaves = b"".join(google_crc32c.value(piece).to_bytes(4, "big") for piece in pieces)
    elif scheme == "crc32-tree-4MiB":
        leaves = b"".join(zlib.crc32(piece).to_bytes(4, "big") for piece in pieces)
    else:
        assert scheme == "sha256-tree-4MiB"
        leaves = b"".join(hashlib.sha256(piece).digest() for piece in pieces)
    prefix = f"{dtype}:{','.join(map(str, value.shape))}:".encode()
    return f"{scheme}:" + hashlib.sha256(prefix + leaves).hexdigest()


def test_the_default_scheme_is_the_crc32c_tree() -> None:
    assert DIGEST_SCHEME == "crc32c-tree-4MiB"
    assert _digest(np.arange(3.0)) == _by_hand(np.arange(3.0), "float64")


def test_crc32c_is_castagnoli() -> None:
    """The check value of CRC-32C (RFC 3720's polynomial): crc("123456789") = 0xE3069283."""
    check = np.frombuffer(b"123456789", np.uint8)
    assert digest.crc32c(check) == 0xE3069283
    assert digest.crc32c(check[4:], digest.crc32c(check[:4])) == 0xE3069283  # continued
    big = RNG.integers(0, 256, size=(3 << 20) + 5, dtype=np.uint8)
    assert digest.crc32c(big) == google_crc32c.value(big.tobytes())


def test_crc32c_loads_the_wheels_library_without_searching_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel ships its library: no ``find_library`` (it runs ldconfig and gcc, 50-60 ms)."""
    import ctypes.util

    def searched(name: str) -> None:
        raise AssertionError(f"find_library({name!r}) was called")

    monkeypatch.setattr(ctypes.util, "find_library", searched)
    crc = digest._load_crc32c()
    check = np.frombuffer(b"123456789", np.uint8)
    assert crc(check, 0) == 0xE3069283
    assert crc.__name__ == "direct"  # the C function on the array's memory, not the copying fallback


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEMES)
@pytest.mark.parametrize("n", [0, 1, LEAF_FLOATS, LEAF_FLOATS + 1, 2 * LEAF_FLOATS + 7],
                         ids=["empty", "one", "one-leaf", "leaf-plus-one", "three-leaves"])
def test_digest_is_the_documented_tree(n: int, scheme: str) -> None:
    value = RNG.standard_normal(n).astype(np.float32)
    assert _digest(value, scheme) == _by_hand(value, "float32", scheme)
    assert _digest(value, scheme).startswith(scheme + ":")


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEMES)
def test_same_values_same_digest_and_one_changed_element_changes_it(scheme: str) -> None:
    value = RNG.standard_normal((3, LEAF_FLOATS // 2 + 5)).astype(np.float32)  # 1.5 leaves
    assert _digest(value, scheme) == _digest(value.copy(), scheme)
    bits = value.reshape(-1).view(np.uint32)
    for index in (0, LEAF_FLOATS - 1, LEAF_FLOATS, bits.size - 1):  # both sides of a leaf edge
        for flip in (1 << 7, 1, 0xFFFFFFFF):  # one bit; a whole element (any 32-bit burst)
            changed = value.copy()
            changed.reshape(-1).view(np.uint32)[index] ^= flip
            assert _digest(changed, scheme) != _digest(value, scheme), (index, flip)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(UsageError, match="digest scheme must be one of crc32c-tree-4MiB, crc32-tree-4MiB"):
        Summary(np.zeros(3, np.float32), "float32", (3,), "md5")
    with pytest.raises(UsageError, match="digest scheme"):
        TraceWriter.create(Path("never.zarr"), digest_scheme="sha256")


def test_digest_names_dtype_and_shape() -> None:
    value = np.arange(12, dtype=np.int32)
    assert _digest(value) != _digest(value.reshape(3, 4))
    assert _digest(value) != _digest(value.view(np.float32))
    assert _digest(np.zeros(4, np.uint16)) != _digest(np.zeros(4, ml_dtypes.bfloat16))


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEMES)
def test_writer_threads_give_the_single_thread_digest(tmp_path: Path, scheme: str) -> None:
    value = RNG.standard_normal(5 * LEAF_FLOATS // 2).astype(np.float32)  # 2.5 leaves, threaded
    for capture in ("full", "stats"):
        with TraceWriter.create(tmp_path / f"{capture}.zarr", capture=capture, digest_scheme=scheme) as w:
            event = w.add_event("snapshot", "w", value=value)
        assert event.digest == _digest(value, scheme) == _by_hand(value, "float32", scheme)
        assert event.stats == arrays.statistics(value, "float32")
        assert tftrace.open(tmp_path / f"{capture}.zarr").events[0].digest == event.digest


def test_digests_compare_only_within_one_scheme() -> None:
    value = np.arange(5, dtype=np.float32)
    stored, _ = arrays.encode(value, "float32")
    new, old = digest.digest(stored, "float32", (5,)), digest.legacy_digest(stored, "float32", (5,))
    assert old == "sha256:" + hashlib.sha256(b"float32:5:" + value.tobytes()).hexdigest()
    assert digest.digests_equal(new, _digest(value.copy())) is True
    assert digest.digests_equal(new, _digest(value + 1)) is False
    assert digest.digests_equal(old, digest.legacy_digest(stored, "float32", (5,))) is True
    assert digest.digests_equal(new, old) is None  # different schemes prove nothing
    sha_tree = digest.digest(stored, "float32", (5,), SHA256_TREE_SCHEME)
    crc32_tree = digest.digest(stored, "float32", (5,), CRC32_TREE_SCHEME)
    assert digest.digests_equal(new, crc32_tree) is None
    assert digest.digests_equal(new, sha_tree) is None and digest.digests_equal(old, sha_tree) is None
    assert digest.digests_equal(None, new) is None and digest.digests_equal("junk", "junk") is None



def _event(value_digest: str | None, stats: Stats | None, seq: int = 0) -> Event:
    return Event(seq=seq, kind="variable", name=f"v{seq}", shape=(3,), dtype="float32",
                 stats=stats, digest=value_digest)


STATS = Stats(size=3, min=-1.0, max=2.0, mean=0.5)
CRC = "crc32-tree-4MiB:" + "ab" * 32


def test_equal_crc_digests_prove_equality_only_with_equal_statistics() -> None:
    prove = digest.digests_prove_equal
    assert prove(_event(CRC, STATS), _event(CRC, Stats(size=3, min=-1.0, max=2.0, mean=0.5)))
    for other in (Stats(size=3, min=-1.0, max=2.0, mean=0.25), Stats(size=3, min=-1.5, max=2.0, mean=0.5),
                  Stats(size=3, min=-1.0, max=2.0, mean=0.5, nan_count=1),
                  Stats(size=3, min=-1.0, max=2.0, mean=0.5, inf_count=1), None):
        assert not prove(_event(CRC, STATS), _event(CRC, other)), other  # a collision: not proven
    nan_mean = Stats(size=3, min=-np.inf, max=np.inf, mean=float("nan"), inf_count=2)
    assert prove(_event(CRC, nan_mean), _event(CRC, nan_mean))
    assert not prove(_event(CRC, STATS), _event("crc32-tree-4MiB:" + "cd" * 32, STATS))


@pytest.mark.parametrize("scheme", ["sha256-tree-4MiB", "sha256"], ids=["sha256-tree", "sha256"])
def test_equal_sha256_digests_prove_equality_alone(scheme: str) -> None:
    value_digest = f"{scheme}:" + "ab" * 32
    assert digest.digests_prove_equal(_event(value_digest, STATS), _event(value_digest, None))


def test_digests_of_different_or_no_schemes_never_prove_equality() -> None:
    tail = "ab" * 32
    for a, b in ((f"crc32-tree-4MiB:{tail}", f"sha256-tree-4MiB:{tail}"), (f"sha256:{tail}", f"sha256-tree-4MiB:{tail}"),
                 (None, None), ("junk", "junk")):
        assert not digest.digests_prove_equal(_event(a, STATS), _event(b, STATS)), (a, b)


def _with_legacy_digests(source: Path, target: Path) -> Path:
    """A copy of a trace whose events carry the sha256 digests tftrace used to write."""
    shutil.copytree(source, target)
    trace = tftrace.open(source)
    values = {ev.seq: ev for ev in trace.events}
    for segment in sorted((target / "log").iterdir()):
        records = list(msgpack.Unpacker(open(segment, "rb"), raw=False))
        for record in records:
            if record.get("type") == "event" and record.get("dtype"):
                ev = values[record["seq"]]
                stored, _ = arrays.encode(trace.array(ev) if ev.stored else _VALUES[ev.name], ev.dtype)
                record["digest"] = digest.legacy_digest(stored, ev.dtype, ev.shape or ())
        segment.write_bytes(b"".join(msgpack.packb(r, use_bin_type=True) for r in records))
    return target


_VALUES = {"w": RNG.standard_normal((64, 33)).astype(np.float32),
           "s": np.array([b"a", b"bc"], dtype=object)}


@pytest.mark.parametrize("capture", ["full", "stats"])
def test_traces_with_older_digests_still_compare(tmp_path: Path, capture: str) -> None:
    new = tmp_path / "new.zarr"
    with TraceWriter.create(new, capture=capture) as w:
        for name, value in _VALUES.items():
            w.add_event("variable", name, value=value)
    old = _with_legacy_digests(new, tmp_path / "old.zarr")
    assert all(ev.digest.startswith("sha256:") for ev in tftrace.open(old).events)

    same_scheme = tftrace.diff(old, old)
    assert same_scheme.equivalent and {p.compared_by for p in same_scheme.pairs} == {"digest"}
    mixed = tftrace.diff(old, new)  # digests of two schemes: judged by the values or statistics
    assert mixed.equivalent and mixed.first_divergence is None
    expected = {"values"} if capture == "full" else {"statistics"}
    assert {p.compared_by for p in mixed.pairs} == expected
    assert {p.status for p in mixed.pairs} <= {"equal", "close"}



@pytest.mark.parametrize("capture", ["full", "stats"])
def test_sha256_tree_traces_still_compare(tmp_path: Path, capture: str) -> None:
    paths = {}
    for scheme in SCHEMES:
        paths[scheme] = tmp_path / f"{scheme}.zarr"
        with TraceWriter.create(paths[scheme], capture=capture, digest_scheme=scheme) as w:
            for name, value in _VALUES.items():
                w.add_event("variable", name, value=value)
        assert all(ev.digest.startswith(scheme + ":") for ev in tftrace.open(paths[scheme]).events)
        same_scheme = tftrace.diff(paths[scheme], paths[scheme])
        assert same_scheme.equivalent and {p.compared_by for p in same_scheme.pairs} == {"digest"}
    mixed = tftrace.diff(paths[SHA256_TREE_SCHEME], paths[DIGEST_SCHEME])
    assert mixed.equivalent and mixed.first_divergence is None
    assert {p.compared_by for p in mixed.pairs} == ({"values"} if capture == "full" else {"statistics"})


def _reference_stats(value: np.ndarray, dtype: str) -> Stats:
    """The statistics as tftrace computed them before the fused pass: whole-array numpy."""
    size = value.size
    if size == 0 or dtype == "string":
        return Stats(size=size)
    if dtype == "bool":
        return Stats(size=size, min=float(value.min()), max=float(value.max()),
                     mean=np.count_nonzero(value) / size)
    work = value.astype(np.float32) if dtype == "bfloat16" else value
    mag = np.abs(work) if dtype.startswith("complex") else work
    floating = work.dtype.kind in "fc"
    nan = int(np.count_nonzero(np.isnan(work))) if floating else 0
    inf = int(np.count_nonzero(np.isinf(work))) if floating else 0
    if floating:
        mag = mag[~np.isnan(mag)]
    if mag.size == 0:
        return Stats(size=size, nan_count=nan, inf_count=inf)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(mag, dtype=np.float64))
    return Stats(size=size, min=float(mag.min()), max=float(mag.max()), mean=mean, nan_count=nan, inf_count=inf)


def _special(dtype: str, n: int) -> np.ndarray:
    value = RNG.standard_normal(n).astype(dtype)
    flat = value.reshape(-1)
    flat[n // 2] = np.nan      # in a later block than the first
    flat[-1] = -np.inf
    return value


BIG = 3 * (1 << 20) // 4 + 3  # float32: spans several 1 MiB blocks, one leaf
STATS_CASES = {
    "float32-clean": (lambda: RNG.standard_normal(BIG).astype(np.float32), "float32"),
    "float32-nan-inf": (lambda: _special("float32", BIG), "float32"),
    "float64-two-leaves": (lambda: _special("float64", DIGEST_LEAF_BYTES // 8 + 5), "float64"),
    "float16-nan-inf": (lambda: _special("float16", BIG), "float16"),
    "bfloat16": (lambda: _special("float32", BIG).astype(ml_dtypes.bfloat16), "bfloat16"),
    "complex64-inf-nan": (lambda: np.array([1 + 1j, complex(np.inf, np.nan), complex(np.nan, 0), 3j],
                                           np.complex64), "complex64"),
    "complex128-big": (lambda: (RNG.standard_normal(BIG) + 1j).astype(np.complex128), "complex128"),
    "float32-offset": (lambda: (RNG.standard_normal(BIG) * 10 + 1e4).astype(np.float32), "float32"),
    "float32-overflow": (lambda: np.full(BIG, 3e38, np.float32), "float32"),
    "all-nan": (lambda: np.full(10, np.nan, np.float32), "float32"),
    "plus-minus-inf": (lambda: np.array([np.inf, -np.inf, 1.0]), "float64"),
    "int64-extremes": (lambda: np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]), "int64"),
    "uint8-big": (lambda: RNG.integers(0, 256, size=3 << 20, dtype=np.uint8), "uint8"),
    "bool": (lambda: RNG.integers(0, 2, size=BIG).astype(bool), "bool"),
    "empty": (lambda: np.zeros((0, 3), np.float32), "float32"),
    "string": (lambda: np.array([b"x", b"yz"], dtype=object), "string"),
}


@pytest.mark.parametrize("case", list(STATS_CASES), ids=list(STATS_CASES))
def test_fused_statistics_match_whole_array_numpy(case: str) -> None:
    make, dtype = STATS_CASES[case]
    value = make()
    got = arrays.statistics(value, dtype)
    expected = _reference_stats(value, dtype)
    assert (got.size, got.nan_count, got.inf_count, got.min, got.max) == (
        expected.size, expected.nan_count, expected.inf_count, expected.min, expected.max)
    if expected.mean is None or np.isnan(expected.mean):
        assert got.mean is None if expected.mean is None else np.isnan(got.mean)
    elif dtype in ("float32", "bfloat16", "complex64") and np.isfinite(expected.mean):
        # float32 values are summed in float32, pairwise, per 1 MiB block (docs/format.md):
        # the error is bounded by the magnitude of the values, not of their mean
        magnitude = np.abs(value.astype(np.complex128 if dtype == "complex64" else np.float64))
        scale = float(np.mean(magnitude[np.isfinite(magnitude)]))
        assert abs(got.mean - expected.mean) <= 1e-7 * scale
    else:  # summed block by block in float64 instead of pairwise over the whole array; or +-inf
        assert got.mean == pytest.approx(expected.mean, rel=1e-12, abs=1e-12)


def test_summary_leaves_can_be_shared_by_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    value = RNG.standard_normal(9 * LEAF_FLOATS // 2).astype(np.float32)
    summary = Summary(value, "float32", value.shape)
    assert summary.leaf_count == 5
    with ThreadPoolExecutor(3) as pool:
        for f in [pool.submit(summary.work) for _ in range(3)]:
            f.result()
    assert summary.result() == (arrays.statistics(value, "float32"), _digest(value))


def test_zarr_json_is_read_once_per_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = RNG.standard_normal((40, 30)).astype(np.float32)
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        w.add_event("endpoint", "x", value=value)
    trace = tftrace.open(tmp_path / "t.zarr")
    reads: list[str] = []
    real_get = trace._store.get
    monkeypatch.setattr(trace._store, "get", lambda key, limit: reads.append(key) or real_get(key, limit))
    np.testing.assert_array_equal(trace.array("x"), value)
    assert [k for k in reads if k.endswith("zarr.json")] == ["arrays/0/zarr.json"]


def test_chunks_sit_in_the_array_directory_and_older_slash_keys_read(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    value = RNG.standard_normal((3, 5, 1 << 19)).astype(np.float32)  # chunks of 4 x 2 MiB
    with TraceWriter.create(tmp_path / "dot.zarr") as w:
        w.add_event("endpoint", "x", value=value)
    files = sorted(p.name for p in (tmp_path / "dot.zarr" / "arrays" / "0").iterdir())
    assert files == ["c.0.0.0", "c.0.1.0", "c.1.0.0", "c.1.1.0", "c.2.0.0", "c.2.1.0", "zarr.json"]
    monkeypatch.setattr(chunkio, "SEPARATOR", "/")  # the layout traces had before
    with TraceWriter.create(tmp_path / "slash.zarr") as w:
        w.add_event("endpoint", "x", value=value)
    assert (tmp_path / "slash.zarr" / "arrays" / "0" / "c" / "2" / "1" / "0").is_file()
    monkeypatch.undo()
    for name in ("dot.zarr", "slash.zarr"):
        trace = tftrace.open(tmp_path / name)
        np.testing.assert_array_equal(trace.array("x"), value)
        blocks = [b for _, b in trace.iter_blocks(trace.events[0], max_bytes=3 << 20)]
        np.testing.assert_array_equal(np.concatenate(blocks), value.reshape(-1))


ONE_BLOCK_FLOATS = (1 << 20) // 4
#: Values of at most one 1 MiB block, which ``digest.summarize`` handles without a Summary.
ONE_BLOCK = {
    "float32": lambda: RNG.standard_normal((16, 3, 3, 8)).astype(np.float32),
    "float32-nan-inf": lambda: _special("float32", 1000),
    "float32-one-block": lambda: RNG.standard_normal(ONE_BLOCK_FLOATS).astype(np.float32),
    "float32-one-block-and-one": lambda: RNG.standard_normal(ONE_BLOCK_FLOATS + 1).astype(np.float32),
    "float32-overflow": lambda: np.full(100, 3e38, np.float32),  # the float32 sum overflows
    "float32-negative-zeros": lambda: np.full(7, -0.0, np.float32),  # a sum of -0.0
    "float32-0d": lambda: np.array(-2.5, np.float32),
    "float16": lambda: _special("float16", 999),
    "bfloat16": lambda: RNG.standard_normal(300).astype(ml_dtypes.bfloat16),
    "float64": lambda: _special("float64", 500),
    "complex64": lambda: (RNG.standard_normal(50) + 1j).astype(np.complex64),
    "int64-extremes": lambda: np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]),
    "uint8": lambda: RNG.integers(0, 256, size=777, dtype=np.uint8),
    "bool": lambda: RNG.integers(0, 2, size=33).astype(bool),
    "all-nan": lambda: np.full(10, np.nan, np.float32),
    "empty": lambda: np.zeros((0, 3), np.float32),
}


@pytest.mark.parametrize("case", list(ONE_BLOCK), ids=list(ONE_BLOCK))
def test_summarize_gives_the_summarys_statistics_and_the_documented_digest(case: str) -> None:
    value = ONE_BLOCK[case]()
    dtype = arrays.logical_dtype(value)
    stored, _ = arrays.encode(value, dtype)
    stats, got = digest.summarize(stored, dtype, value.shape)
    assert got == _by_hand(value, dtype)  # the construction of docs/format.md, by other libraries
    expected = _reference_stats(value, dtype)
    assert (stats.size, stats.nan_count, stats.inf_count, stats.min, stats.max) == (
        expected.size, expected.nan_count, expected.inf_count, expected.min, expected.max)
    # as bytes: the very floats Summary gives (-0.0 and NaN included), so records are equal
    summary_stats, summary_digest = Summary(stored, dtype, value.shape).result()
    assert msgpack.packb(stats.to_dict()) == msgpack.packb(summary_stats.to_dict())
    assert got == summary_digest
    if value.size:  # negative control: one element changed changes the digest and the statistics
        changed = value.copy().reshape(-1)
        changed[0] = (not changed[0]) if dtype == "bool" else 1 if changed[0] != 1 else 2
        assert digest.summarize(arrays.encode(changed, dtype)[0], dtype, value.shape)[1] != got


def test_summarize_keeps_other_schemes() -> None:
    value = RNG.standard_normal(100).astype(np.float32)
    for scheme in (CRC32_TREE_SCHEME, SHA256_TREE_SCHEME):
        assert digest.summarize(value, "float32", value.shape, scheme)[1] == _by_hand(value, "float32", scheme)
