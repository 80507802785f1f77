"""Malformed traces are exit 2 with one line naming the event and the field, never a
traceback nor silent zeros (issue 11, points 3, 4 and 6)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any, Callable

import msgpack
import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import TraceFormatError, UsageError
from tftrace.format import limits
from tftrace.format.writer import TraceWriter

from tests.format.hostile import (chunk_files, edit_event, good_trace, log_records, patch_zip_entry, rewrite_log,
                     run_tftrace, zip_store)


def _error_line(args: list[str], path: Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.stderr
    return lines[0][len(f"Error: {path}: "):]


# -- point 3: every chunk of an array is there -----------------------------------------------

def test_a_missing_chunk_is_corruption_not_zeros(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    [chunk] = chunk_files(t, 1)
    chunk.unlink()
    assert _error_line(["cat", t, "logits"], t) == (
        "array arrays/1 of event #1 'logits' is corrupted: its shape [2, 2] needs 1 chunk files, "
        "the trace holds 0 (tftrace writes every chunk)")


def test_a_missing_chunk_among_others_is_corruption(tmp_path: Path) -> None:
    with TraceWriter.create(tmp_path / "t.zarr") as w:  # 3 chunks of 8 MiB (+ 1 element)
        w.add_event("endpoint", "big", value=np.ones((3, 1 << 21), np.float32))
    t = tmp_path / "t.zarr"
    chunks = chunk_files(t, 0)
    assert len(chunks) == 3
    chunks[1].unlink()
    (t / "arrays" / "0" / "unrelated").write_bytes(b"x")  # the count alone would not see it
    assert _error_line(["cat", t, "big"], t) == (
        "array arrays/0 of 'big' is corrupted: chunk c.1.0 is missing (tftrace writes every chunk of an array)")
    trace = tftrace.open(t)
    with pytest.raises(TraceFormatError, match="chunk c.1.0 is missing"):
        for _ in trace.iter_blocks(trace.events[0]):
            pass


def test_a_directory_in_place_of_a_chunk(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    [chunk] = chunk_files(t, 1)
    chunk.unlink()
    chunk.mkdir()
    (chunk / "x").write_bytes(b"\0" * 16)
    assert _error_line(["cat", t, "logits"], t) == (
        "array arrays/1 of 'logits' is corrupted: arrays/1/c.0.0 is a directory, expected a file")


# -- point 4: zip entries tftrace cannot read ------------------------------------------------

@pytest.mark.parametrize("key", ["log/1", "zarr.json", "arrays/1/c.0.0"], ids=str)
def test_zip_entry_flagged_encrypted(tmp_path: Path, key: str) -> None:
    z = zip_store(good_trace(tmp_path / "t.zarr"), tmp_path / "t.zarr.zip")
    patch_zip_entry(z, key, flag_bits=0x1)
    message = _error_line(["cat", z, "logits"], z)
    assert message.endswith(f"zip entry {key} is encrypted; a trace's entries are never encrypted")
    with pytest.raises(TraceFormatError, match="is encrypted"):
        tftrace.open(z).array("logits")


@pytest.mark.parametrize("method", [99, 12, 14], ids=["aes", "bzip2", "lzma"])
def test_zip_entry_with_another_compression_method(tmp_path: Path, method: int) -> None:
    z = zip_store(good_trace(tmp_path / "t.zarr"), tmp_path / "t.zarr.zip")
    patch_zip_entry(z, "log/1", method=method)
    message = _error_line(["show", z], z)
    assert message == (f"zip entry log/1 uses compression method {method}; expected stored (0) or deflate (8): "
                       "unzip it and read the directory, or re-pack it with `tftrace pack`")
    with pytest.raises(TraceFormatError, match="compression method"):
        tftrace.open(z)


def test_deflated_zip_entries_read(tmp_path: Path) -> None:
    """A zip made with a plain zip tool (deflate) reads like tftrace's stored one."""
    t = good_trace(tmp_path / "t.zarr", compressible=True)
    z = zip_store(t, tmp_path / "t.zarr.zip", zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(tftrace.open(z).array("logits"), tftrace.open(t).array("logits"))


def test_corrupted_deflate_stream(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    z = zip_store(t, tmp_path / "t.zarr.zip", zipfile.ZIP_DEFLATED)
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("log/1")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start:start + info.compress_size] = bytes(255 - b for b in data[start:start + info.compress_size])
    z.write_bytes(bytes(data))
    message = _error_line(["show", z], z)
    assert message.startswith("cannot read log/1: ")


# -- point 4 and 6: every field is type-checked ----------------------------------------------

def _attrs(seq: int, **attrs: Any) -> Callable[[Path], None]:
    def change(t: Path) -> None:
        records = log_records(t)
        event = next(r for r in records if r.get("seq") == seq)
        event["attrs"] = {**event.get("attrs", {}), **attrs}
        rewrite_log(t, records)
    return change


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _environment(**env: Any) -> Callable[[Path], None]:
    def change(t: Path) -> None:
        records = log_records(t)
        records.insert(0, {"type": "environment", "environment": env})
        rewrite_log(t, records)
    return change


def _raw_environment(payload: bytes) -> Callable[[Path], None]:
    """An environment record whose map is ``payload`` (raw msgpack, e.g. with bytes keys)."""
    def change(t: Path) -> None:
        head = msgpack.packb({"type": "environment"})
        record = bytes([head[0] + 1]) + head[1:] + msgpack.packb("environment") + payload
        (t / "log" / "1").write_bytes(record + (t / "log" / "1").read_bytes())
    return change


def _random_op(**attrs: Any) -> Callable[[Path], None]:
    def change(t: Path) -> None:
        records = log_records(t)
        event = next(r for r in records if r.get("seq") == 1)
        event["kind"] = "random_op"
        event["attrs"] = {"op_type": "RandomUniform", "seed": [42, 1], "seed_index": 0, **attrs}
        rewrite_log(t, records)
    return change


def _field(**changes: Any) -> Callable[[Path], None]:
    return lambda t: edit_event(t, 1, **changes)


SEGMENT = "log segment 1"
EVENT = f"bad event record in {SEGMENT}: event #1 'logits'"
FIELD_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "op-type-list": (_random_op(op_type=["RandomUniform"]),
                     f"{EVENT}: attrs.op_type: expected a str, got list"),
    "seed-string": (_random_op(seed="42"), f"{EVENT}: attrs.seed: expected a list of two ints or nil, got str '42'"),
    "seed-index-float": (_random_op(seed_index=1.5), f"{EVENT}: attrs.seed_index: expected an int, got float 1.5"),
    "trainable-string": (lambda t: _attrs(0, trainable="yes")(t),
                         f"bad event record in {SEGMENT}: event #0 'dense/kernel:0': attrs.trainable: "
                         "expected a bool, got str 'yes'"),
    "call-site-int": (_attrs(1, call_site=7), f"{EVENT}: attrs.call_site: expected a str or nil, got int 7"),
    "creation-index-bool": (lambda t: _attrs(0, creation_index=True)(t),
                            f"bad event record in {SEGMENT}: event #0 'dense/kernel:0': attrs.creation_index: "
                            "expected an int, got bool True"),
    "timestamp-in-attrs": (_attrs(1, when=msgpack.Timestamp(1, 0)),
                           f"{EVENT}: attrs.when: expected nil, bool, int, float, str, bin, list or map, "
                           "got a msgpack extension (Timestamp)"),
    "ext-type-in-attrs": (_attrs(1, blob=msgpack.ExtType(5, b"xx")),
                          f"{SEGMENT} is corrupted: a msgpack extension type (5) where only plain values belong"),
    "attrs-500-deep": (_attrs(1, deep=_nested(500)),
                       f"{EVENT}: attrs.deep{'[0]' * (limits.MAX_DEPTH - 1)}: expected at most 32 levels"),
    "attrs-not-a-map": (_field(attrs=[1, 2]), f"{EVENT}: attrs: expected a map, got list"),
    "environment-1000-deep": (_environment(deep=_nested(1000)),
                              f"{SEGMENT}: bad environment record: environment.deep"),
    "environment-bytes-key": (_raw_environment(b"\x81\xc4\x03key\x01"),
                              f"{SEGMENT}: bad environment record: environment key b'key': expected str keys, "
                              "got a bin key"),
    "environment-timestamp": (_environment(start=msgpack.Timestamp(5, 0)),
                              f"{SEGMENT}: bad environment record: environment.start: expected nil, bool"),
    "tensorflow-version-list": (_environment(tensorflow_version=["2.21"]),
                                f"{SEGMENT}: bad environment record: environment.tensorflow_version: "
                                "expected a str or nil, got list"),
    "replay-counts-string": (_environment(replay={"source": "a.zarr", "random_ops_replayed": "many"}),
                             "environment.replay.random_ops_replayed: expected an int, got str 'many'"),
    "time-string": (_field(t="now"), f"{EVENT}: t: expected a number, got str 'now'"),
    "step-negative": (_field(step=-1), f"{EVENT}: step: expected a non-negative int, got int -1"),
    "stats-size-wrong": (_field(stats={"size": 5, "min": 0.0, "max": 3.0, "mean": 1.5}),
                         f"{EVENT}: stats.size: expected 4 (the number of elements of the shape), got 5"),
    "stats-mean-string": (_field(stats={"size": 4, "mean": "1.5"}), f"{EVENT}: stats.mean: expected a number or nil"),
    "digest-not-printable": (_field(digest="crc32c-tree-4MiB:\x1b]0;pwned\x07"),
                             f"{EVENT}: digest: expected a str '<scheme>:<hex>'"),
    "digest-int": (_field(digest=5), f"{EVENT}: digest: expected a str '<scheme>:<hex>' of at most 1024 characters, "
                                     "got int 5"),
    "name-too-long": (_field(name="n" * 70_000),
                      f"bad event record in {SEGMENT}: event #1 '{'n' * 77}...': name: expected at most 65536 "
                      "characters, got 70000 characters"),
    "end-complete-string": (lambda t: rewrite_log(t, [{**r, "complete": "yes"} if r["type"] == "end" else r
                                                      for r in log_records(t)]),
                            f"{SEGMENT}: bad end record: complete: expected a bool, got str 'yes'"),
}


@pytest.mark.parametrize("case", list(FIELD_CASES), ids=list(FIELD_CASES))
def test_malformed_field_names_the_event_and_the_field(tmp_path: Path, case: str) -> None:
    t = good_trace(tmp_path / "t.zarr")
    change, message = FIELD_CASES[case]
    for p in (t / "log").iterdir():  # keep the events in log/1 and the end record out of the way
        if p.name not in ("0", "1"):
            p.unlink()
    change(t)
    for command in (["show", t], ["cat", t, "logits"], ["check", t], ["diff", t, t]):
        line = _error_line(command, t)
        assert message in line, line
    with pytest.raises(TraceFormatError):
        tftrace.open(t)


def test_deep_nesting_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    _environment(deep=_nested(1000))(t)
    run = run_tftrace("show", t)
    assert run.code == 2 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_writer_refuses_what_the_reader_would_refuse(tmp_path: Path) -> None:
    """A recording never produces a trace its own reader rejects."""
    with TraceWriter.create(tmp_path / "t.zarr") as w:
        with pytest.raises(UsageError, match="attrs.op_type: expected a str, got list"):
            w.add_event("random_op", "r", value=np.ones(2), attrs={"op_type": ["RandomUniform"]})
        with pytest.raises(UsageError, match="str keys"):
            w.add_event("endpoint", "e", value=np.ones(2), attrs={"extra": {1: "int key"}})
        with pytest.raises(UsageError, match="at most 32 levels"):
            w.add_event("endpoint", "e", value=np.ones(2), attrs={"deep": _nested(40)})
        with pytest.raises(UsageError, match="environment.seed: expected an int or nil"):
            w.update_environment(seed="42")
        w.add_event("random_op", "ok", value=np.ones(2), attrs={"op_type": "RandomUniform", "seed": (42, 1)})
    event = tftrace.open(tmp_path / "t.zarr").events[0]
    assert event.attrs["seed"] == [42, 1]  # tuples are stored as lists, and read back as such


# -- point 6 ----------------------------------------------------------------------------------

def test_oversize_array_metadata_says_so(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    meta = t / "arrays" / "1" / "zarr.json"
    meta.write_bytes(meta.read_bytes()[:-1] + b" " * (2 << 20) + b"}")
    assert _error_line(["cat", t, "logits"], t) == (
        f"arrays/1/zarr.json is {meta.stat().st_size} bytes, more than the 1048576 bytes a trace ever holds "
        "there: corrupted or not a trace")


def test_oversize_root_metadata_says_so(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    meta = t / "zarr.json"
    meta.write_bytes(meta.read_bytes()[:-1] + b" " * (2 << 20) + b"}")
    assert _error_line(["show", t], t).startswith(f"zarr.json is {meta.stat().st_size} bytes, more than")


def test_path_errors_are_one_line_not_the_usage_block(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    folder = tmp_path / "folder"
    folder.mkdir()
    runner = CliRunner()
    for args, message in (
            (["diff", str(t), str(t), "-o", str(folder)], f"Error: {folder}: Is a directory"),
            (["check", str(t), "-o", str(folder)], f"Error: {folder}: Is a directory"),
            (["record", "-o", str(tmp_path / "r.zarr"), str(folder)],
             f"Error: expected a Python script to run, got {str(folder)!r} (a directory)"),
            (["show", str(tmp_path / "nothing.zarr")],
             f"Error: {tmp_path / 'nothing.zarr'}: no such trace (expected a directory X.zarr or a file X.zarr.zip)")):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2
        assert result.stderr.strip() == message, result.stderr


def test_record_over_an_existing_trace_names_the_option(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    script = tmp_path / "s.py"
    script.write_text("print('ran')\n")
    result = CliRunner().invoke(cli, ["record", "-o", str(t), str(script)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {t}: already exists; choose another path or replace it (use --overwrite)"
    with pytest.raises(tftrace.errors.TraceExistsError, match=r"replace it \(pass overwrite=True\)$"):
        TraceWriter.create(t)


def test_copies_of_good_traces_still_read(tmp_path: Path) -> None:
    """The negative control of this file: the builders alone break nothing."""
    t = good_trace(tmp_path / "t.zarr")
    records = log_records(t)
    rewrite_log(t, records)
    u = shutil.copytree(t, tmp_path / "u.zarr")
    z = zip_store(u, tmp_path / "u.zarr.zip")
    for path in (t, u, z):
        result = CliRunner().invoke(cli, ["cat", str(path), "logits"])
        assert result.exit_code == 0, result.output


# -- the run-status keys of the end record (issue 10's keys, checked like every field) -------

@pytest.mark.parametrize("changes, field", [
    ({"status": "finished"}, "status"),
    ({"status": ["completed"]}, "status"),
    ({"exception": {"type": 3}}, "exception"),
    ({"signal": 15}, "signal"),
], ids=["unknown status", "status list", "exception type int", "signal int"])
def test_a_malformed_end_record_is_corruption(tmp_path: Path, changes: dict[str, Any], field: str) -> None:
    t = good_trace(tmp_path / "t.zarr")
    segments = sorted((t / "log").iterdir(), key=lambda p: int(p.name))
    last = int(segments[-1].name)
    records = log_records(t, last)
    end = next(r for r in records if r.get("type") == "end")
    assert end["status"] == "completed"  # the writer's own record, before the edit
    end.update(changes)
    rewrite_log(t, records, last)
    assert f"bad end record: {field}: expected" in _error_line(["show", t], t)
    with pytest.raises(TraceFormatError, match=f"bad end record: {field}"):
        tftrace.open(t)
