"""Bad input gives one line naming the path and the problem, exit code 2, and leaves the files alone."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import msgpack
import numpy as np
import pytest
from click.testing import CliRunner

from tftrace.cli import cli
from tftrace.format.writer import TraceWriter


def _good(path: Path) -> Path:
    with TraceWriter.create(path, environment={"purpose": "bad-input"}) as w:
        w.add_event("variable", "dense/kernel:0", value=np.arange(6, dtype=np.float32).reshape(2, 3))
        w.add_event("endpoint", "logits", value=np.ones((2, 2), np.float32))
    return path


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


# log/0 holds the environment (written at creation); the events follow in log/1.
def _log_records(trace: Path) -> list[dict]:
    return list(msgpack.Unpacker(open(trace / "log" / "1", "rb"), raw=False))


def _rewrite_log(trace: Path, records: list[dict]) -> None:
    (trace / "log" / "1").write_bytes(b"".join(msgpack.packb(r) for r in records))


def missing(tmp: Path) -> Path:
    return tmp / "nothing-here.zarr"


def empty_dir(tmp: Path) -> Path:
    (tmp / "empty.zarr").mkdir()
    return tmp / "empty.zarr"


def plain_file(tmp: Path) -> Path:
    (tmp / "notes.zarr.zip").write_text("not a zip")
    return tmp / "notes.zarr.zip"


def truncated_zip(tmp: Path) -> Path:
    src = _good(tmp / "t.zarr")
    shutil.make_archive(str(tmp / "t"), "zip", src)
    data = (tmp / "t.zip").read_bytes()
    (tmp / "cut.zarr.zip").write_bytes(data[: len(data) // 2])
    return tmp / "cut.zarr.zip"


def zarr_json_not_json(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    (t / "zarr.json").write_bytes(b"\x00\x01 definitely { not json")
    return t


def foreign_zarr(tmp: Path) -> Path:
    import zarr

    zarr.open_group(tmp / "other.zarr", mode="w", attributes={"made_by": "someone else"})
    return tmp / "other.zarr"


def newer_version(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    meta = json.loads((t / "zarr.json").read_text())
    meta["attributes"]["tftrace"]["format_version"] = 99
    (t / "zarr.json").write_text(json.dumps(meta))
    return t


def log_missing(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    shutil.rmtree(t / "log")
    return t


def log_not_msgpack(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    (t / "log" / "0").write_bytes(b"\xc1" * 64)  # 0xc1 is never used by msgpack
    return t


def log_truncated(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    data = (t / "log" / "0").read_bytes()
    (t / "log" / "0").write_bytes(data[:-7])
    return t


def log_absurdly_large(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    with open(t / "log" / "0", "r+b") as f:  # sparse: costs no disk
        f.truncate(300 << 20)
    return t


def event_bad_dtype(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    records = _log_records(t)
    records[0]["dtype"] = "float128"
    _rewrite_log(t, records)
    return t


def event_escaping_array_key(tmp: Path) -> Path:
    t = _good(tmp / "t.zarr")
    records = _log_records(t)
    records[0]["array"] = "../../../etc/passwd"
    _rewrite_log(t, records)
    return t


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing-path": (missing, "no such trace"),
    "empty-directory": (empty_dir, "not a trace (the directory has no zarr.json)"),
    "plain-file": (plain_file, "not a trace (expected a directory or a zip file"),
    "truncated-zip": (truncated_zip, "not a trace"),
    "zarr-json-not-json": (zarr_json_not_json, "zarr.json is not valid JSON"),
    "foreign-zarr-store": (foreign_zarr, "a zarr store but not a tftrace trace"),
    "newer-format-version": (newer_version, "format version 99 is newer than this tftrace reads"),
    "log-missing": (log_missing, "has no event log"),
    "log-not-msgpack": (log_not_msgpack, "log segment 0 is corrupted: not msgpack"),
    "log-truncated": (log_truncated, "log segment 0 is corrupted: truncated record"),
    "log-absurdly-large": (log_absurdly_large, "log/0 is 314572800 bytes"),
    "event-bad-dtype": (event_bad_dtype, "event #0 'dense/kernel:0': dtype: expected one of float16"),
    "event-array-key-escapes": (event_escaping_array_key, "expected an array key like 'arrays/12'"),
}


@pytest.mark.parametrize("command", ["show", "show --json", "cat"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_trace_exits_2_with_one_line(tmp_path: Path, case: str, command: str) -> None:
    make, message = CASES[case]
    path = make(tmp_path)
    before = _tree_digest(path) if path.exists() else None
    args = command.split() + [str(path)] + (["logits"] if command == "cat" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {path}"), lines[0]
    assert message in lines[0]
    assert (_tree_digest(path) if path.exists() else None) == before


def test_corrupted_array_chunk(tmp_path: Path) -> None:
    t = _good(tmp_path / "t.zarr")
    chunk = next(p for p in (t / "arrays" / "1").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"garbage" * 3)
    runner = CliRunner()
    assert runner.invoke(cli, ["show", str(t)]).exit_code == 0  # digests alone are fine
    result = runner.invoke(cli, ["cat", str(t), "logits"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {t}: array arrays/1 of 'logits' is corrupted")


def test_unknown_name_lists_how_to_find_names(tmp_path: Path) -> None:
    t = _good(tmp_path / "t.zarr")
    result = CliRunner().invoke(cli, ["cat", str(t), "logitz"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {t}: no event named 'logitz' at step 0 (occurrence 0); "
                                     "see `tftrace show` for the names")


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    path = log_not_msgpack(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tftrace", "show", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"Error: {path}: log segment 0 is corrupted: not msgpack")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_pack_refuses_bad_targets(tmp_path: Path) -> None:
    t = _good(tmp_path / "t.zarr")
    runner = CliRunner()
    result = runner.invoke(cli, ["pack", str(t), str(tmp_path / "out.tar")])
    assert result.exit_code == 2 and "must end with .zarr.zip" in result.stderr
    assert runner.invoke(cli, ["pack", str(t), str(tmp_path / "o.zarr.zip")]).exit_code == 0
    result = runner.invoke(cli, ["pack", str(t), str(tmp_path / "o.zarr.zip")])
    assert result.exit_code == 2 and "already exists" in result.stderr


def _array_meta(trace: Path) -> tuple[Path, dict]:
    path = trace / "arrays" / "1" / "zarr.json"
    return path, json.loads(path.read_text())


def _meta_not_json(trace: Path) -> None:
    _array_meta(trace)[0].write_bytes(b"{ not json")


def _meta_bad_chunks(trace: Path) -> None:
    path, meta = _array_meta(trace)
    meta["chunk_grid"]["configuration"]["chunk_shape"] = [-1, 2]
    path.write_text(json.dumps(meta))


def _meta_other_dtype(trace: Path) -> None:
    path, meta = _array_meta(trace)
    meta["data_type"] = "int32"
    path.write_text(json.dumps(meta))


def _meta_other_shape(trace: Path) -> None:
    path, meta = _array_meta(trace)
    meta["shape"] = [4, 1]
    path.write_text(json.dumps(meta))


def _meta_missing(trace: Path) -> None:
    _array_meta(trace)[0].unlink()


ARRAY_META_CASES = {
    "not-json": (_meta_not_json, "array arrays/1 of event #1 'logits' is unreadable: zarr.json is not valid JSON"),
    "negative-chunk-shape": (_meta_bad_chunks, "array arrays/1 of event #1 'logits' is unreadable: "
                             "expected a regular chunk grid of 2 positive ints"),
    "other-data-type": (_meta_other_dtype, "expected stored dtype float32, got 'int32'"),
    "other-shape": (_meta_other_shape, "array arrays/1 of event #1 'logits' is unreadable: has shape [4, 1], "
                    "expected [2, 2]"),
    "missing": (_meta_missing, "array arrays/1 of event #1 'logits' is missing (no arrays/1/zarr.json)"),
}


@pytest.mark.parametrize("case", list(ARRAY_META_CASES), ids=list(ARRAY_META_CASES))
def test_bad_array_metadata_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    t = _good(tmp_path / "t.zarr")
    corrupt, message = ARRAY_META_CASES[case]
    corrupt(t)
    result = CliRunner().invoke(cli, ["cat", str(t), "logits"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {t}"), result.stderr
    assert message in lines[0]
