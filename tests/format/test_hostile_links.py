"""The store never leaves itself (issue 11, point 2), and pack's temporaries are its own
(point 6): no read or copy follows a symbolic link out of a trace, pack writes no file
it did not create exclusively, and leaves nothing behind on failure or kill."""

from __future__ import annotations

import gc
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli
from tftrace.errors import TraceFormatError
from tftrace.format.pack import pack_trace
from tftrace.format.writer import TraceWriter

from tests.format.hostile import chunk_files, good_trace, tree_state

SECRET = "secret-outside-the-store\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every trace, standing for /etc/passwd or /etc/shadow."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "passwd"
    path.write_text(SECRET * 4)
    return path


def _link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def _assert_refused(result, t: Path, key: str) -> None:
    assert result.exit_code == 2, result.output
    assert SECRET.strip() not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {t}: ") and line.endswith(
        f"{key} is a symbolic link; a trace never contains links, and tftrace does not follow them out of the store")


def test_chunk_linked_to_a_file_outside(tmp_path: Path, secret: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    [chunk] = chunk_files(t, 1)
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())  # exactly a chunk's size
    _link(chunk, secret)
    result = CliRunner().invoke(cli, ["cat", str(t), "logits"])
    _assert_refused(result, t, "arrays/1/c.0.0")
    with pytest.raises(TraceFormatError, match="is a symbolic link"):
        tftrace.open(t).array("logits")


@pytest.mark.parametrize("key", ["zarr.json", "log/1", "log", "arrays/1/zarr.json", "arrays/1", "arrays"],
                         ids=str)
def test_links_anywhere_in_the_store_are_refused(tmp_path: Path, secret: Path, key: str) -> None:
    t = good_trace(tmp_path / "t.zarr")
    elsewhere = shutil.copytree(t, tmp_path / "outside" / "copy.zarr")  # a valid target: links must not work
    _link(t / key, elsewhere / key)
    result = CliRunner().invoke(cli, ["cat", str(t), "logits"])
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_trace_path_itself_may_be_a_link(tmp_path: Path) -> None:
    """The user names the root: a link to a trace directory is fine."""
    t = good_trace(tmp_path / "t.zarr")
    (tmp_path / "alias.zarr").symlink_to(t)
    np.testing.assert_array_equal(tftrace.open(tmp_path / "alias.zarr").array("logits"),
                                  np.arange(4, dtype=np.float32).reshape(2, 2))


def test_a_fifo_in_place_of_a_log_segment_does_not_block(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    (t / "log" / "1").unlink()
    os.mkfifo(t / "log" / "1")
    result = CliRunner().invoke(cli, ["show", str(t)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {t}: log/1 is not a regular file, expected a file"


def test_pack_refuses_to_copy_a_link_target(tmp_path: Path, secret: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    (t / "arrays" / "1" / "notes").symlink_to(secret)  # an extra entry pointing at /etc/shadow
    out = tmp_path / "out" / "t.zarr.zip"
    out.parent.mkdir()
    result = CliRunner().invoke(cli, ["pack", str(t), str(out)])
    _assert_refused(result, t, "arrays/1/notes")
    assert list(out.parent.iterdir()) == []  # neither the zip nor a temporary


def test_pack_from_a_zip_does_not_write_through_a_planted_name(tmp_path: Path, secret: Path) -> None:
    """A link at the old temporary name (OUT.tmp-copy) must not be written through."""
    source = tmp_path / "t.zarr.zip"
    pack_trace(good_trace(tmp_path / "t.zarr"), source)
    out = tmp_path / "o.zarr.zip"
    for planted in (Path(str(out) + ".tmp-copy"), out.with_name(out.name + ".tmp")):
        planted.symlink_to(secret)
    result = CliRunner().invoke(cli, ["pack", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert secret.read_text() == SECRET * 4
    assert out.read_bytes() == source.read_bytes()


def test_pack_over_a_link_replaces_the_link_not_its_target(tmp_path: Path, secret: Path) -> None:
    out = tmp_path / "o.zarr.zip"
    out.symlink_to(secret)
    result = CliRunner().invoke(cli, ["pack", str(good_trace(tmp_path / "t.zarr")), str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert secret.read_text() == SECRET * 4
    assert not out.is_symlink() and zipfile.is_zipfile(out)


def test_pack_into_the_trace_itself_is_refused(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    before = tree_state(t)
    result = CliRunner().invoke(cli, ["pack", str(t), str(t / "packed.zarr.zip")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {t / 'packed.zarr.zip'}: lies inside the trace being packed "
                                     f"({t}); choose a path outside it")
    assert tree_state(t) == before


def test_pack_refusal_names_the_cli_option(tmp_path: Path) -> None:
    t = good_trace(tmp_path / "t.zarr")
    out = tmp_path / "o.zarr.zip"
    runner = CliRunner()
    assert runner.invoke(cli, ["pack", str(t), str(out)]).exit_code == 0
    result = runner.invoke(cli, ["pack", str(t), str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {out}: already exists; choose another path or replace it (use --overwrite)"
    with pytest.raises(tftrace.errors.TraceExistsError, match=r"\(pass overwrite=True\)$"):
        pack_trace(t, out)


def _entries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def test_disk_full_pack_names_the_output_and_leaves_nothing(tmp_path: Path) -> None:
    """A write that fails half-way (here: the file size limit, as a full disk would) names
    OUT, not the source, and no temporary is left."""
    t = tmp_path / "big.zarr"
    with TraceWriter.create(t) as w:
        w.add_event("endpoint", "x", value=np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for source in (t, tmp_path / "big.zarr.zip"):
        if source.suffix == ".zip":
            pack_trace(t, source)
        out = out_dir / "o.zarr.zip"

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

        proc = subprocess.run([sys.executable, "-m", "tftrace", "pack", str(source), str(out)],
                              capture_output=True, text=True, preexec_fn=limit)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"Error: {out}: cannot write the packed trace: File too large"), proc.stderr
        assert _entries(out_dir) == set()


def _open_temporaries(pid: int, directory: Path) -> bool:
    """Whether ``pid`` has a file open in ``directory`` (an unnamed or temporary output)."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(str(directory) + "/"):
                return True
    except (FileNotFoundError, ProcessLookupError):
        pass
    return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the open output")
@pytest.mark.parametrize("container", ["dir", "zip"])
def test_pack_killed_mid_write_leaves_nothing(tmp_path: Path, container: str) -> None:
    t = tmp_path / "big.zarr"
    rng = np.random.default_rng(1)
    with TraceWriter.create(t) as w:
        for i in range(48):
            w.add_event("endpoint", f"x{i}", value=rng.standard_normal(1 << 20).astype(np.float32))
    source = t if container == "dir" else pack_trace(t, tmp_path / "big.zarr.zip")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tftrace", "pack", str(source), str(out_dir / "o.zarr.zip")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _open_temporaries(proc.pid, out_dir):  # wait until the output is being written
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _entries(out_dir) == set()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
@pytest.mark.parametrize("separator", [".", "/"])
def test_reading_leaks_no_file_descriptor(tmp_path: Path, separator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chunk read and every directory listed (the chunk count) gives its descriptors back."""
    from tftrace.format import chunkio

    monkeypatch.setattr(chunkio, "SEPARATOR", separator)
    t = tmp_path / "t.zarr"
    with TraceWriter.create(t) as w:
        for i in range(20):
            w.add_event("endpoint", f"x{i}", value=np.full((3, 1 << 20), i, np.float32))  # 2 chunks each
    gc.collect()  # descriptors of earlier tests' dropped stores close now, not during the count
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with tftrace.open(t) as trace:
            for ev in trace.events:
                trace.array(ev)
                for _ in trace.iter_blocks(ev, max_bytes=4 << 20):
                    pass
    result = CliRunner().invoke(cli, ["pack", str(t), str(tmp_path / "p.zarr.zip")])
    assert result.exit_code == 0, result.output
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before  # the leak was one or more per chunk read
