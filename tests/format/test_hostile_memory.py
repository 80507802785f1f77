"""Hostile traces cannot make a reader exhaust memory (issue 11, point 1).

Each case used to take gigabytes (a traceback or zeros with exit 0); now it is exit 2
with one line, in a process whose own peak RSS (``wait4``) stays under a budget far
below what the case used to take.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import msgpack
import numpy as np
import pytest

import tftrace
from tftrace.errors import TraceFormatError
from tftrace.format import arrays, limits

from tests.format.hostile import (BASELINE_BUDGET_MB, array_meta, chunk_files, edit_event, good_trace, run_tftrace,
                     set_array_meta, zip_store, zstd_rle_bomb)


def _one_line_error(run, path: Path, message: str) -> None:
    assert run.code == 2, (run.stdout[-500:], run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}"), run.stderr[-2000:]
    assert message in lines[0], lines[0]
    print(f"peak RSS {run.peak_mb:.0f} MB")  # the figures in docs/format.md (pytest -s)


@pytest.mark.parametrize("declared", [True, False], ids=["size-declared", "size-unknown"])
def test_zstd_chunk_expanding_to_4gib(tmp_path: Path, declared: bool) -> None:
    """A 128 KiB zstd chunk that expands to 4 GiB (RLE blocks) is refused, not decompressed."""
    t = good_trace(tmp_path / "t.zarr", compressible=True)
    assert array_meta(t, 1)["codecs"][-1]["name"] == "zstd"
    [chunk] = chunk_files(t, 1)
    bomb = zstd_rle_bomb(4 << 30, declare_size=declared)
    assert len(bomb) < 130 << 10
    chunk.write_bytes(bomb)
    run = run_tftrace("cat", t, "logits")
    _one_line_error(run, t, "array arrays/1 of 'logits' is corrupted: chunk c.0.0 cannot be decoded: zstd data")
    assert run.peak_mb < BASELINE_BUDGET_MB
    with pytest.raises(TraceFormatError, match="cannot be decoded"):
        tftrace.open(t).array("logits")


def _fallback_layout(trace: Path) -> None:
    """Rewrite event 1's array (512x512 float32) as another zarr tool might: 256x256 chunks."""
    meta = array_meta(trace, 1)
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [256, 256]
    meta["codecs"] = meta["codecs"][:1]
    for p in chunk_files(trace, 1):
        p.unlink()
    for i in range(2):
        for j in range(2):
            block = np.full((256, 256), 10 * i + j, np.float32)
            (trace / "arrays" / "1" / f"c.{i}.{j}").write_bytes(block.tobytes())
    set_array_meta(trace, 1, meta)


def test_fallback_layout_reads_chunk_by_chunk(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr", compressible=True)
    _fallback_layout(t)
    expected = np.block([[np.full((256, 256), 0.0), np.full((256, 256), 1.0)],
                         [np.full((256, 256), 10.0), np.full((256, 256), 11.0)]]).astype(np.float32)
    trace = tftrace.open(t)
    np.testing.assert_array_equal(trace.array("logits"), expected)
    blocks = [b for _, b in trace.iter_blocks(trace.events[1], max_bytes=512 * 4 * 3)]
    np.testing.assert_array_equal(np.concatenate(blocks), expected.reshape(-1))


def _deflate_entry(size: int):
    def write(zf: zipfile.ZipFile, key: str) -> None:
        info = zipfile.ZipInfo(key)
        info.compress_type = zipfile.ZIP_DEFLATED
        zeros = bytes(1 << 20)
        with zf.open(info, "w", force_zip64=True) as f:
            for _ in range(size >> 20):
                f.write(zeros)
    return write


def test_zip_deflate_bomb_through_the_fallback_layout(tmp_path: Path) -> None:
    """A ~1 MB zip whose chunk entry inflates to 1 GiB, in a layout tftrace did not write."""
    t = good_trace(tmp_path / "t.zarr", compressible=True)
    _fallback_layout(t)
    z = zip_store(t, tmp_path / "bomb.zarr.zip", replace={"arrays/1/c.0.0": _deflate_entry(1 << 30)})
    assert z.stat().st_size < 2 << 20
    run = run_tftrace("cat", z, "logits")
    _one_line_error(run, z, "arrays/1/c.0.0 is 1073741824 bytes, more than the 262144 bytes")
    assert run.peak_mb < BASELINE_BUDGET_MB


def _declare_shape(trace: Path, seq: int, shape: list[int], dtype: str | None = None) -> None:
    changes: dict = {"shape": shape, "stats": None}
    if dtype:
        changes["dtype"] = dtype
    edit_event(trace, seq, **changes)
    meta = array_meta(trace, seq)
    meta["shape"] = shape
    if dtype:
        meta["data_type"] = dtype
        meta["attributes"]["tftrace"]["dtype"] = dtype
    itemsize = np.dtype(meta["data_type"]).itemsize
    meta["chunk_grid"]["configuration"]["chunk_shape"] = list(arrays.chunk_shape(tuple(shape), itemsize))
    set_array_meta(trace, seq, meta)


def test_declared_shape_of_1e11_elements(tmp_path: Path) -> None:
    """[1e11] float32 (400 GB) in a 1 KB trace: refused before anything is allocated."""
    t = good_trace(tmp_path / "t.zarr")
    _declare_shape(t, 1, [10**11])
    run = run_tftrace("cat", t, "logits")
    _one_line_error(run, t, "its shape [100000000000] needs 47684 chunk files, the trace holds 1 "
                            "(tftrace writes every chunk)")
    assert run.peak_mb < BASELINE_BUDGET_MB
    with pytest.raises(TraceFormatError, match="needs 47684 chunk files"):
        tftrace.open(t).array("logits")
    other = shutil.copytree(t, tmp_path / "u.zarr")
    edit_event(other, 1, digest="crc32c-tree-4MiB:00")  # digests differ: values must be read
    run = run_tftrace("diff", t, other, timeout=60)
    _one_line_error(run, t, "needs 47684 chunk files")


def test_declared_shape_beyond_the_documented_maximum(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    _declare_shape(t, 1, [10**12])  # 4 TB of float32: more than limits.MAX_ARRAY_BYTES
    run = run_tftrace("show", t)
    _one_line_error(run, t, f"event #1 'logits': shape: expected at most {limits.MAX_ARRAY_BYTES} bytes")


def test_declared_shape_without_chunks_is_not_zeros(tmp_path: Path) -> None:
    """[3e9] uint8 with its chunk files gone used to allocate 2.9 GB and print zeros."""
    t = good_trace(tmp_path / "t.zarr")
    _declare_shape(t, 1, [3 * 10**9], dtype="uint8")
    for p in chunk_files(t, 1):
        p.unlink()
    run = run_tftrace("cat", t, "logits")
    _one_line_error(run, t, "needs 358 chunk files, the trace holds 0")
    assert run.peak_mb < BASELINE_BUDGET_MB


def _many_events(tmp_path: Path, count: int) -> tuple[Path, int]:
    t = good_trace(tmp_path / "t.zarr")
    records = [msgpack.packb({"type": "event", "seq": i, "kind": "endpoint", "name": "x", "step": 0, "occ": i})
               for i in range(count)]
    (t / "log" / "1").write_bytes(b"".join(records))
    for p in (t / "log").iterdir():
        if p.name not in ("0", "1"):
            p.unlink()
    size = (t / "log" / "1").stat().st_size
    return zip_store(t, tmp_path / "many.zarr.zip", zipfile.ZIP_DEFLATED), size


def test_many_events_in_a_deflated_segment_stream_with_bounded_memory(tmp_path: Path) -> None:
    """Many tiny events in one deflated segment: parsed record by record (streamed), and
    the memory is the documented per-log-byte cost of the events kept, not also a copy of
    the segment, its decoded records and the whole output (201 MB before, 77 MB now)."""
    count = 150_000
    z, log_bytes = _many_events(tmp_path, count)
    assert z.stat().st_size * 5 < log_bytes  # deflate hides the size: the zip is small
    baseline = run_tftrace("show", good_trace(tmp_path / "small.zarr")).peak_mb
    run = run_tftrace("show", z, timeout=600)
    assert run.code == 0, run.stderr[-2000:]
    assert run.stdout.count("\n") >= count
    print(f"{count} events, {log_bytes} bytes of log, zip {z.stat().st_size} bytes: peak RSS {run.peak_mb:.0f} MB "
          f"(a small trace: {baseline:.0f} MB)")
    # docs/format.md: the events cost at most MEMORY_PER_LOG_BYTE per byte of their records
    assert run.peak_mb < baseline + 10 + log_bytes * limits.MEMORY_PER_LOG_BYTE / 2**20


def test_a_record_larger_than_the_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    huge = b"\xdb" + (100 << 20).to_bytes(4, "big") + b"x" * 1000  # a str header claiming 100 MiB
    (t / "log" / "1").write_bytes(huge)
    run = run_tftrace("show", t)
    _one_line_error(run, t, "log segment 1 is corrupted")
    assert run.peak_mb < BASELINE_BUDGET_MB


def test_nested_lists_claiming_millions_of_items(tmp_path: Path) -> None:
    """Headers of nested lists each claiming 2**32-1 items, in a few bytes."""
    t = good_trace(tmp_path / "t.zarr")
    record = b"\x82\xa4type\xabenvironment\xabenvironment\x81\xa1x" + b"\xdd\xff\xff\xff\xff" * 500
    (t / "log" / "1").write_bytes(record)
    run = run_tftrace("show", t)
    _one_line_error(run, t, "log segment 1 is corrupted")
    assert run.peak_mb < BASELINE_BUDGET_MB


def test_string_array_claiming_more_strings_than_bytes(tmp_path: Path) -> None:
    with tftrace.format.TraceWriter.create(tmp_path / "t.zarr") as w:
        w.add_event("endpoint", "s", value=np.array([b"a", b"b"], dtype=object))
    t = tmp_path / "t.zarr"
    payload = b"\xdd\xff\xff\xff\xff"  # a msgpack list header claiming 2**32-1 strings
    [chunk] = chunk_files(t, 0)
    meta = array_meta(t, 0)
    meta["shape"] = [len(payload)]
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [len(payload)]
    meta["codecs"] = meta["codecs"][:1]
    set_array_meta(t, 0, meta)
    chunk.write_bytes(payload)
    run = run_tftrace("cat", t, "s")
    _one_line_error(run, t, "string array is not valid msgpack")
    assert run.peak_mb < BASELINE_BUDGET_MB


def test_compressed_chunk_file_larger_than_its_chunk_can_be(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr", compressible=True)
    [chunk] = chunk_files(t, 1)
    with open(chunk, "ab") as f:
        f.truncate(64 << 20)  # sparse: costs no disk
    run = run_tftrace("cat", t, "logits")
    _one_line_error(run, t, f"arrays/1/c.0.0 is {64 << 20} bytes, more than the")
    assert run.peak_mb < BASELINE_BUDGET_MB


def test_chunk_shape_beyond_the_chunk_limit(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    meta = array_meta(t, 1)
    meta["shape"] = [1 << 20, 1 << 10]
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [1 << 20, 1 << 10]
    set_array_meta(t, 1, meta)
    edit_event(t, 1, shape=[1 << 20, 1 << 10], stats=None)
    run = run_tftrace("cat", t, "logits")
    _one_line_error(run, t, f"more than the {limits.MAX_CHUNK_BYTES} bytes a trace's chunks ever hold")
