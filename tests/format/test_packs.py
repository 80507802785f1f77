"""Packed values (format 6): the values of the captured kinds in one file per log segment.

Round trips compare with the numpy values written; a pack opened by zarr-python (not
tftrace's reader) holds exactly those bytes; a killed writer leaves every flushed value
readable; hostile packs give one-line errors, exit 2.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import TraceFormatError
from tftrace.format import value_packs
from tftrace.format.pack import pack_trace
from tftrace.format.writer import TraceWriter
from tests.format import hostile
from tests.format.killing import kill_after_flushes

_RNG = np.random.default_rng(7)
#: Every dtype the writer stores as a number, each raw (noise) and compressible (zeros).
VALUES = {
    "float16": _RNG.standard_normal((5, 7)).astype(np.float16),
    "bfloat16": _RNG.standard_normal((3, 4)).astype(ml_dtypes.bfloat16),
    "float32": _RNG.standard_normal((64, 33)).astype(np.float32),
    "float64": np.array([np.nan, np.inf, -0.0, 1e300]),
    "int8": np.arange(-100, 100, dtype=np.int8),
    "int16": _RNG.integers(-30000, 30000, 50).astype(np.int16),
    "int32": _RNG.integers(-2**31, 2**31 - 1, (4, 4, 4)).astype(np.int32),
    "int64": np.array(2**62 + 3, dtype=np.int64),  # 0-d
    "uint8": _RNG.integers(0, 255, 300).astype(np.uint8),
    "uint16": _RNG.integers(0, 65535, 9).astype(np.uint16),
    "uint32": np.array([0, 2**32 - 1], np.uint32),
    "uint64": np.array([2**64 - 1], np.uint64),
    "bool": _RNG.random(77) > 0.5,
    "complex64": (_RNG.standard_normal(6) + 1j * _RNG.standard_normal(6)).astype(np.complex64),
    "complex128": np.array([1 + 2j, np.nan * 1j]),
    "zeros": np.zeros((256, 256), np.float32),  # compresses: one zstd frame
    "relu": np.maximum(_RNG.standard_normal((128, 128)), 0).astype(np.float32),
}


def _write(path: Path | str, values: dict[str, np.ndarray], kind: str = "op") -> None:
    with TraceWriter.create(path) as w:
        for name, value in values.items():
            w.add_event(kind, name, value=value, keep_value=True)


def test_every_dtype_round_trips_through_a_pack(tmp_path: Path) -> None:
    _write(tmp_path / "t.zarr", VALUES)
    with tftrace.open(tmp_path / "t.zarr") as trace:
        assert trace.format_version == 6
        codecs = {}
        for ev in trace.events:
            expected = VALUES[ev.name]
            assert ev.array_key == "packs/1" and ev.packed is not None, ev
            codecs[ev.name] = ev.packed.codec
            got = trace.array(ev)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)
            blocks = list(trace.iter_blocks(ev, max_bytes=64))  # several blocks where it has
            assert [start for start, _ in blocks] == sorted(start for start, _ in blocks)
            np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), expected.reshape(-1))
    assert codecs["zeros"] == "zstd" and codecs["float32"] == "raw"  # the sample rule, per value
    # the digest is the value's, as an array's would be: a v5-style array trace of the same values
    with TraceWriter.create(tmp_path / "arrays.zarr") as w:
        for name, value in VALUES.items():
            w.add_event("endpoint", name, value=value)
    with tftrace.open(tmp_path / "t.zarr") as packed, tftrace.open(tmp_path / "arrays.zarr") as arrays:
        assert [e.digest for e in packed.events] == [e.digest for e in arrays.events]
        assert [e.stats for e in packed.events] == [e.stats for e in arrays.events]
        assert all(e.packed is None and e.array_key.startswith("arrays/") for e in arrays.events)


def test_zarr_reads_a_pack_as_an_ordinary_array_holding_the_values_bytes(tmp_path: Path) -> None:
    import zarr

    _write(tmp_path / "t.zarr", VALUES)
    with tftrace.open(tmp_path / "t.zarr") as trace:
        events = trace.events
    pack = zarr.open_array(tmp_path / "t.zarr" / "packs" / "1", mode="r")
    data = np.asarray(pack[:])
    assert pack.dtype == np.uint8 and data.nbytes == sum(e.packed.length for e in events)
    for ev in events:
        if ev.packed.codec == "raw":  # the value's little-endian bytes, independent of tftrace's reader
            stored = VALUES[ev.name].view(np.uint16) if ev.dtype == "bfloat16" else VALUES[ev.name]
            raw = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
            assert data[ev.packed.offset:ev.packed.offset + ev.packed.length].tobytes() == raw


def test_strings_empty_large_and_other_kinds_keep_their_own_arrays(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(value_packs, "MAX_PACKED_BYTES", 1000)
    values = {"small": np.ones(10, np.float32), "large": np.ones(1000, np.float32),
              "empty": np.zeros((0, 4), np.float32), "text": np.array([b"a", b"bc"], dtype=object)}
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        for name, value in values.items():
            w.add_event("layer", name, value=value, keep_value=True)
        w.add_event("endpoint", "logits", value=np.ones(3))
    with tftrace.open(tmp_path / "t.zarr") as trace:
        keys = {ev.name: ev.array_key for ev in trace.events}
        assert keys == {"small": "packs/1", "large": "arrays/1", "empty": "arrays/2", "text": "arrays/3",
                        "logits": "arrays/4"}
        for name, value in values.items():
            np.testing.assert_array_equal(trace.array(name, kind="layer"), value)


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(100).astype(np.float32)  # stored raw


def test_one_pack_per_segment_closed_before_it(tmp_path: Path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        for segment in range(3):
            for i in range(4):
                w.add_event("gradient", f"g{segment}.{i}", value=_noise(segment * 10 + i), keep_value=True)
            assert not (tmp_path / "t.zarr" / "packs" / str(segment + 1) / "zarr.json").exists()
            w.flush()  # the pack is closed, then the segment naming it written
            assert (tmp_path / "t.zarr" / "packs" / str(segment + 1) / "zarr.json").exists()
    with tftrace.open(tmp_path / "t.zarr") as trace:
        assert [ev.array_key for ev in trace.events] == [f"packs/{s}" for s in (1, 2, 3) for _ in range(4)]
        assert [ev.packed.offset for ev in trace.events] == [0, 400, 800, 1200] * 3
        for ev in trace.events:
            segment, i = map(int, ev.name[1:].split("."))
            np.testing.assert_array_equal(trace.array(ev), _noise(segment * 10 + i))


@pytest.mark.parametrize("form", ["recorded-zip", "packed"])
def test_packed_values_read_from_a_zip(tmp_path: Path, form: str) -> None:
    if form == "recorded-zip":
        path = tmp_path / "t.zarr.zip"
        _write(path, VALUES)
    else:
        _write(tmp_path / "t.zarr", VALUES)
        path = tmp_path / "packed.zarr.zip"
        pack_trace(tmp_path / "t.zarr", path)
    with tftrace.open(path) as trace:
        assert trace._store.is_zip
        for ev in trace.events:
            np.testing.assert_array_equal(trace.array(ev), VALUES[ev.name])
    result = CliRunner().invoke(cli, ["check", str(path)])  # float64 holds a NaN and an Inf
    assert result.exit_code == 1 and "nan-inf (2)" in result.output and "unclosed" not in result.output


KILLED = textwrap.dedent("""
    import sys
    import numpy as np
    from tftrace.format.writer import TraceWriter
    w = TraceWriter.create(sys.argv[1], environment={"who": "crash-test"})
    i = 0
    while True:  # until killed; a value every event, half of them compressible
        value = np.full((64, 64), i, np.float32) if i % 2 else np.arange(4096, dtype=np.float32) * i
        w.add_event("op", f"value/{i}", step=i // 10, value=value, keep_value=True)
        if i % 5 == 4:
            w.flush()
            print(f"flushed {i + 1}", flush=True)
        i += 1
""")


def _expected(i: int) -> np.ndarray:
    return np.full((64, 64), i, np.float32) if i % 2 else np.arange(4096, dtype=np.float32) * i


@pytest.mark.parametrize("container", ["dir", "zip"])
def test_sigkill_mid_recording_keeps_every_flushed_packed_value(tmp_path: Path, container: str) -> None:
    path = tmp_path / ("run.zarr" if container == "dir" else "run.zarr.zip")
    flushed = kill_after_flushes(KILLED, str(path))
    with tftrace.open(path) as trace:  # a zip target reads its .partial directory
        assert not trace.complete and trace.status.status == "killed"
        assert len(trace.events) >= flushed
        for ev in trace.events:  # every logged event's value is whole, in a closed pack
            i = int(ev.name.split("/")[1])
            assert ev.seq == i and ev.packed is not None
            np.testing.assert_array_equal(trace.array(ev), _expected(i))
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1 and "killed" in result.output


def test_a_pack_left_open_by_a_killed_run_is_ignored_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    w = TraceWriter.create(path)
    w.add_event("op", "a", value=np.ones(8, np.float32), keep_value=True)
    w.flush()
    w.add_event("op", "b", value=np.full(8, 2, np.float32), keep_value=True)  # its pack still open
    assert (path / "packs" / "2" / "c.0").exists() and not (path / "packs" / "2" / "zarr.json").exists()
    # what a SIGKILL leaves: the open pack's bytes, no zarr.json, no segment naming it
    w._packs._file.flush()
    with tftrace.open(path) as trace:
        assert [ev.name for ev in trace.events] == ["a"] and not trace.complete
        np.testing.assert_array_equal(trace.array(trace.events[0]), np.ones(8, np.float32))
        assert trace.unclosed_packs() == ["packs/2"]
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1 and "packs/2" in result.output, result.output
    w.close()


# -- hostile packs -------------------------------------------------------------------------

def _hostile(tmp: Path) -> Path:
    path = tmp / "t.zarr"
    with TraceWriter.create(path) as w:
        w.add_event("op", "raw", value=np.arange(256, dtype=np.float32), keep_value=True)
        w.add_event("op", "zeros", value=np.zeros(4096, np.float32), keep_value=True)
    return path


def _event(path: Path, seq: int) -> dict:
    return next(r for r in hostile.log_records(path) if r.get("seq") == seq)


def _pack_meta(path: Path) -> dict:
    return json.loads((path / "packs" / "1" / "zarr.json").read_text())


def offset_outside(path: Path) -> None:
    hostile.edit_event(path, 0, pack=[2000, 1024, "raw"])


def length_not_dtype_by_shape(path: Path) -> None:
    hostile.edit_event(path, 0, pack=[0, 1020, "raw"])


def huge_length(path: Path) -> None:
    hostile.edit_event(path, 1, pack=[0, 1 << 39, "zstd"])


def huge_value(path: Path) -> None:  # 4 GiB declared by the shape, packed
    hostile.edit_event(path, 1, shape=[1 << 30], stats=None)


def pack_shorter_than_declared(path: Path) -> None:
    data = (path / "packs" / "1" / "c.0").read_bytes()
    (path / "packs" / "1" / "c.0").write_bytes(data[:-10])


def pack_missing(path: Path) -> None:
    for name in ("zarr.json", "c.0"):
        (path / "packs" / "1" / name).unlink()


def pack_without_its_chunk(path: Path) -> None:
    (path / "packs" / "1" / "c.0").unlink()


def pack_meta_not_a_pack(path: Path) -> None:
    meta = _pack_meta(path)
    meta["codecs"].append({"name": "zstd", "configuration": {"level": 1}})
    (path / "packs" / "1" / "zarr.json").write_text(json.dumps(meta))


def zstd_decodes_to_more(path: Path) -> None:  # a frame of 32 KiB where 16 KiB belong
    _replace_bytes(path, 1, hostile.zstd_rle_bomb(4 * 4096 * 2))


def zstd_decodes_to_less(path: Path) -> None:  # 8 KiB, no size declared
    _replace_bytes(path, 1, hostile.zstd_rle_bomb(4 * 4096 // 2, declare_size=False))


def zstd_bomb(path: Path) -> None:  # 1 GiB of zeros from 32 KiB, no size declared
    _replace_bytes(path, 1, hostile.zstd_rle_bomb(1 << 30, declare_size=False))


def zstd_bomb_too_long(path: Path) -> None:  # 4 GiB from 128 KiB: longer than the value allows
    _replace_bytes(path, 1, hostile.zstd_rle_bomb(4 << 30, declare_size=False))


def _replace_bytes(path: Path, seq: int, new: bytes) -> None:
    """Make event ``seq``'s value the zstd bytes ``new``, appended to the pack (its
    zarr.json updated to the new length)."""
    chunk = path / "packs" / "1" / "c.0"
    data = chunk.read_bytes() + new
    chunk.write_bytes(data)
    meta = _pack_meta(path)
    meta["shape"] = meta["chunk_grid"]["configuration"]["chunk_shape"] = [len(data)]
    (path / "packs" / "1" / "zarr.json").write_text(json.dumps(meta))
    hostile.edit_event(path, seq, pack=[len(data) - len(new), len(new), "zstd"])


@pytest.mark.parametrize("corrupt, seq, message", [
    pytest.param(offset_outside, 0, "bytes 2000 to 3024 lie outside pack packs/1", id="offset-outside"),
    pytest.param(length_not_dtype_by_shape, 0, "raw bytes in packs/1 are 1020 bytes long; expected 1024",
                 id="length-not-dtype-by-shape"),
    pytest.param(huge_length, 1, "zstd bytes in packs/1 are 549755813888 bytes long; expected at most",
                 id="huge-length"),
    pytest.param(huge_value, 1, "a packed float32[1073741824] value; expected a value of at most",
                 id="huge-value"),
    pytest.param(pack_shorter_than_declared, 0, "its zarr.json declares", id="pack-shorter"),
    pytest.param(pack_missing, 0, "pack packs/1 is missing (no packs/1/zarr.json)", id="pack-missing"),
    pytest.param(pack_without_its_chunk, 0, "packs/1/c.0 holds no chunk file", id="chunk-missing"),
    pytest.param(pack_meta_not_a_pack, 0, "expected a zarr v3 1-D uint8 array in one chunk", id="not-a-pack"),
    pytest.param(zstd_decodes_to_more, 1, "zstd data declare 32768 bytes, expected 16384", id="zstd-more"),
    pytest.param(zstd_decodes_to_less, 1, "zstd data do not decode to 16384 bytes", id="zstd-less"),
    pytest.param(zstd_bomb, 1, "zstd data do not decode to 16384 bytes", id="zstd-bomb"),
    pytest.param(zstd_bomb_too_long, 1, "zstd bytes in packs/1 are 131078 bytes long; expected at most 82176",
                 id="zstd-bomb-too-long"),
])
def test_a_hostile_pack_is_a_one_line_error(tmp_path: Path, corrupt, seq: int, message: str) -> None:
    path = _hostile(tmp_path)
    corrupt(path)
    with tftrace.open(path) as trace:  # the trace opens: its events, statistics and digests read
        ev = trace.events[seq]
        with pytest.raises(TraceFormatError, match="unreadable") as raised:
            trace.array(ev)
        assert message in str(raised.value) and "\n" not in str(raised.value)
        assert f"event #{seq} {ev.name!r}" in str(raised.value)
        with pytest.raises(TraceFormatError):
            list(trace.iter_blocks(ev, max_bytes=256))
    run = hostile.run_tftrace("cat", path, ev.name)
    assert run.code == 2 and "Traceback" not in run.stderr and message in run.stderr, run.stderr
    assert run.peak_mb < hostile.BASELINE_BUDGET_MB


def test_a_pack_field_beside_an_array_key_is_refused(tmp_path: Path) -> None:
    path = _hostile(tmp_path)
    hostile.edit_event(path, 0, array="arrays/0")
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 2 and "a pack key like 'packs/3' beside a pack field" in result.output


@pytest.mark.parametrize("failing", [
    pytest.param([True], id="pack-metadata"), pytest.param([False, True], id="segment")])
def test_a_failed_flush_keeps_the_pack_and_the_next_one_takes_another_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: list[bool]) -> None:
    from tftrace.errors import TraceWriteError
    from tftrace.format import store

    original = store.write_atomic
    failures = iter(failing)  # which write of the flush fails: the pack's zarr.json, or the segment

    def failing_once(path: Path, data: bytes) -> None:
        if next(failures, False):
            raise OSError(28, "No space left on device")
        original(path, data)

    path = tmp_path / "t.zarr"
    w = TraceWriter.create(path)
    w.add_event("op", "a", value=_noise(1), keep_value=True)
    monkeypatch.setattr(store, "write_atomic", failing_once)
    with pytest.raises(TraceWriteError, match="No space left on device"):
        w.flush()  # the segment not written; the next flush writes it, its pack whole
    w.add_event("op", "b", value=_noise(2), keep_value=True)
    w.close()
    with tftrace.open(path) as trace:
        assert [(ev.name, ev.array_key) for ev in trace.events] == [("a", "packs/1"), ("b", "packs/2")]
        np.testing.assert_array_equal(trace.array("a", kind="op"), _noise(1))
        np.testing.assert_array_equal(trace.array("b", kind="op"), _noise(2))
