"""Every dtype and shape class round-trips exactly, through a directory and a zip."""

from __future__ import annotations

import math
import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tftrace
from tftrace.format.writer import TraceWriter

RNG = np.random.default_rng(7)


def _values(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    n = math.prod(shape)
    if dtype == "string":
        pool = [b"", b"a", b"\x00\xff binary", "ünïcode ☃".encode(), b"x" * 300]
        out = np.empty(n, dtype=object)
        out[:] = [pool[i % len(pool)] for i in range(n)]
        return out.reshape(shape)
    if dtype == "bool":
        return RNG.integers(0, 2, size=shape).astype(bool)
    if dtype.startswith("complex"):
        real = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
        return real.astype(dtype)
    if dtype == "bfloat16":
        return RNG.standard_normal(shape).astype(ml_dtypes.bfloat16)
    if dtype.startswith("float"):
        values = RNG.standard_normal(shape).astype(dtype)
        if n >= 3:  # special values must survive bit for bit
            flat = values.reshape(-1)
            flat[0], flat[1], flat[2] = np.nan, np.inf, -0.0
        return values
    info = np.iinfo(dtype)
    values = RNG.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if n >= 2:
        values.reshape(-1)[:2] = [info.min, info.max]
    return values


DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "string"]
SHAPES = {"scalar": (), "empty": (0, 3), "vector": (17,), "matrix": (5, 7), "rank4": (2, 3, 4, 5)}


def _assert_same(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if expected.dtype == object:
        assert got.tolist() == expected.tolist()
    else:  # bit patterns, so NaN payloads and -0.0 count
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("container", ["dir", "zip"])
def test_every_dtype_and_shape_round_trips(tmp_path: Path, container: str) -> None:
    path = tmp_path / ("t.zarr" if container == "dir" else "t.zarr.zip")
    expected = {}
    with TraceWriter.create(path, environment={"purpose": "roundtrip"}) as w:
        for dtype in DTYPES:
            for label, shape in SHAPES.items():
                value = _values(dtype, shape)
                expected[f"{dtype}/{label}"] = value
                w.add_event("endpoint", f"{dtype}/{label}", value=value)
    trace = tftrace.open(path)
    assert trace.complete
    assert [ev.name for ev in trace.events] == list(expected)
    for ev in trace.events:
        value = expected[ev.name]
        assert ev.dtype == ev.name.split("/")[0]
        assert ev.shape == value.shape
        _assert_same(value, trace.array(ev.name))
    if container == "zip":
        assert path.is_file() and not Path(str(path) + ".partial").exists()


def test_blocks_cover_the_array_in_c_order(tmp_path: Path) -> None:
    value = RNG.standard_normal((3, 5, 1000)).astype(np.float32)
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        w.add_event("endpoint", "x", value=value)
    trace = tftrace.open(tmp_path / "t.zarr")
    blocks = list(trace.iter_blocks(trace.events[0], max_bytes=4000 * 4))
    assert len(blocks) > 1
    assert all(b.nbytes <= 4000 * 4 for _, b in blocks)
    joined = np.concatenate([b for _, b in blocks])
    assert [s for s, _ in blocks] == list(np.cumsum([0] + [b.size for _, b in blocks[:-1]]))
    np.testing.assert_array_equal(joined, value.reshape(-1))


def test_stats_and_digest(tmp_path: Path) -> None:
    value = np.array([1.0, np.nan, -np.inf, 3.0], dtype=np.float32)
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        a = w.add_event("endpoint", "a", value=value)
        b = w.add_event("endpoint", "b", value=value.copy())
        c = w.add_event("endpoint", "c", value=value.astype(np.float64))
    assert (a.stats.nan_count, a.stats.inf_count) == (1, 1)
    assert (a.stats.min, a.stats.max) == (-np.inf, 3.0)
    assert a.digest == b.digest != c.digest  # same bytes; same values in another dtype differ
    read = tftrace.open(tmp_path / "t.zarr").events[0]
    assert read.stats == a.stats and read.digest == a.digest


def test_names_are_data_not_paths(tmp_path: Path) -> None:
    names = ["../../escape", "/abs/path", "a/b/c:0", "..", "ünï/cödé ☃", "x" * 10_000,
             "new\nline", "", "arrays/0", "zarr.json"]
    store = tmp_path / "inner" / "t.zarr"
    with TraceWriter.create(store) as w:
        for i, name in enumerate(names):
            w.add_event("variable", name, value=np.full((2,), i, np.int32))
    outside = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert all(str(p).startswith("inner") for p in outside), outside
    trace = tftrace.open(store)
    assert [ev.name for ev in trace.events] == names
    for i, name in enumerate(names):
        np.testing.assert_array_equal(trace.array(name, kind="variable"), [i, i])


def test_occurrences_and_steps(tmp_path: Path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        for step in range(2):
            for k in range(3):
                w.add_event("endpoint", "loss", step=step, value=np.float32(10 * step + k))
    trace = tftrace.open(tmp_path / "t.zarr")
    assert [(e.step, e.occurrence) for e in trace.events] == [(s, k) for s in range(2) for k in range(3)]
    assert float(trace.array("loss", step=1, occurrence=2)) == 12.0


def test_stats_capture_keeps_no_values(tmp_path: Path) -> None:
    value = np.arange(10, dtype=np.int64)
    with TraceWriter.create(tmp_path / "t.zarr", capture="stats") as w:
        ev = w.add_event("endpoint", "x", value=value)
    assert not (tmp_path / "t.zarr" / "arrays" / "0").exists()
    trace = tftrace.open(tmp_path / "t.zarr")
    assert trace.environment["capture"] == "stats"
    assert trace.events[0].digest == ev.digest and trace.events[0].stats.max == 9.0
    with pytest.raises(tftrace.errors.ArrayNotStoredError, match="--capture stats"):
        trace.array("x")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    TraceWriter.create(tmp_path / "t.zarr").close()
    with pytest.raises(tftrace.errors.TraceExistsError, match="already exists"):
        TraceWriter.create(tmp_path / "t.zarr")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(tftrace.errors.TraceExistsError, match="not a trace"):
        TraceWriter.create(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TFTRACE_SKIP_HUGE") == "1", reason="TFTRACE_SKIP_HUGE=1")
def test_array_larger_than_2gib(tmp_path: Path) -> None:
    """Past 2**31 bytes, where 32-bit offsets and sizes break."""
    n = (2**31 + 2**20) // 2
    value = np.arange(n, dtype=np.uint16)  # wraps: a pattern that a chunk mix-up would break
    with TraceWriter.create(tmp_path / "big.zarr") as w:
        ev = w.add_event("snapshot", "big", value=value)
    trace = tftrace.open(tmp_path / "big.zarr")
    assert trace.events[0].digest == ev.digest
    for start, block in trace.iter_blocks(trace.events[0], max_bytes=256 << 20):
        np.testing.assert_array_equal(block, value[start:start + block.size])


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "complex128", "uint8"], ids=str)
def test_plain_zarr_reads_what_tftrace_wrote(tmp_path: Path, dtype: str) -> None:
    """The arrays are ordinary zarr v3: zarr-python alone reads the same values."""
    import zarr

    compressible = np.zeros((300, 70), dtype=dtype)  # stored with zstd
    noisy = _values(dtype, (300, 70))              # floats: stored raw
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        a = w.add_event("snapshot", "zeros", value=compressible)
        b = w.add_event("snapshot", "noise", value=noisy)
    group = zarr.open_group(tmp_path / "t.zarr", mode="r")
    for ev, expected in ((a, compressible), (b, noisy)):
        np.testing.assert_array_equal(group[ev.array_key][...], expected)
    assert group[a.array_key].compressors  # zeros compress, so they were compressed


def test_format_version_6_is_written_and_version_1_still_reads(tmp_path: Path) -> None:
    """Most committed samples were written as version 1 (crc32/sha256 digests); the
    writer now writes version 3 (crc32c digests, as version 2, and the captured kinds),
    and one reader reads both."""
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        w.add_event("endpoint", "x", value=np.arange(3, dtype=np.float32))
    new = tftrace.open(tmp_path / "t.zarr")
    assert new.format_version == 6 and new.events[0].digest.startswith("crc32c-tree-4MiB:")
    sample = Path(__file__).resolve().parents[2] / "sample_traces" / "new_variables_per_call.zarr.zip"
    old = tftrace.open(sample)
    assert old.format_version == 1 and old.complete
    assert not any(ev.digest.startswith("crc32c") for ev in old.events)
    assert tftrace.diff(sample, sample).equivalent
