"""Builders of hostile traces (each test makes its own from a good one) and a runner that
measures a command's peak memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from tftrace.format.writer import TraceWriter

#: The peak memory a hostile case may take: the CLI costs ~50 MB with nothing much to read
#: (interpreter, numpy, click); the cases used to take 1-5 GB.
BASELINE_BUDGET_MB = 250


def good_trace(path: Path, *, compressible: bool = False) -> Path:
    """A small complete trace: event 0 a variable, event 1 the endpoint 'logits'."""
    # 1 MiB of zeros: one zstd chunk that a 128 KiB file may legitimately hold
    logits = np.zeros((512, 512), np.float32) if compressible else np.arange(4, dtype=np.float32).reshape(2, 2)
    with TraceWriter.create(path, environment={"purpose": "hostile"}) as w:
        w.add_event("variable", "dense/kernel:0", value=np.arange(6, dtype=np.float32).reshape(2, 3),
                    attrs={"trainable": True, "call_site": "model.py:3 in build"})
        w.add_event("endpoint", "logits", value=logits, attrs={"call_site": "run.py:9 in main"})
    return path


def log_records(trace: Path, segment: int = 1) -> list[dict[str, Any]]:
    """The records of one log segment (log/0 holds the environment, log/1 the events)."""
    with open(trace / "log" / str(segment), "rb") as f:
        return list(msgpack.Unpacker(f, raw=False))


def rewrite_log(trace: Path, records: list[dict[str, Any]], segment: int = 1) -> None:
    (trace / "log" / str(segment)).write_bytes(b"".join(msgpack.packb(r, use_bin_type=True) for r in records))


def edit_event(trace: Path, seq: int, **changes: Any) -> None:
    records = log_records(trace)
    event = next(r for r in records if r.get("type") == "event" and r.get("seq") == seq)
    event.update(changes)
    rewrite_log(trace, records)


def array_meta(trace: Path, seq: int) -> dict[str, Any]:
    return json.loads((trace / "arrays" / str(seq) / "zarr.json").read_text())


def set_array_meta(trace: Path, seq: int, meta: dict[str, Any]) -> None:
    (trace / "arrays" / str(seq) / "zarr.json").write_text(json.dumps(meta))


def chunk_files(trace: Path, seq: int) -> list[Path]:
    return sorted(p for p in (trace / "arrays" / str(seq)).rglob("*") if p.is_file() and p.name != "zarr.json")


def zip_store(source: Path, out: Path, compression: int = zipfile.ZIP_STORED,
              replace: dict[str, Any] | None = None) -> Path:
    """Zip a directory trace; ``replace`` maps keys to bytes, or to (ZipInfo, writer) callables."""
    replace = dict(replace or {})
    with zipfile.ZipFile(out, "w", compression=compression, allowZip64=True) as zf:
        for p in sorted(source.rglob("*")):
            if p.is_file():
                key = p.relative_to(source).as_posix()
                content = replace.pop(key, None)
                if callable(content):
                    content(zf, key)
                else:
                    zf.writestr(key, p.read_bytes() if content is None else content)
        for key, content in replace.items():
            if callable(content):
                content(zf, key)
            else:
                zf.writestr(key, content)
    return out


def patch_zip_entry(path: Path, key: str, *, flag_bits: int | None = None, method: int | None = None) -> None:
    """Change an entry's general-purpose flags or compression method in both of its headers."""
    data = bytearray(path.read_bytes())
    name = key.encode()
    for signature, flag_at, method_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 8, 26, 30),
                                                                 (b"PK\x01\x02", 8, 10, 28, 46)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            start = at + 4
            n = int.from_bytes(data[at + name_len_at:at + name_len_at + 2], "little")
            if bytes(data[at + name_at:at + name_at + n]) != name:
                continue
            if flag_bits is not None:
                flags = int.from_bytes(data[at + flag_at:at + flag_at + 2], "little") | flag_bits
                data[at + flag_at:at + flag_at + 2] = flags.to_bytes(2, "little")
            if method is not None:
                data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def zstd_rle_bomb(content_bytes: int, *, declare_size: bool = True) -> bytes:
    """A zstd frame of RLE blocks that expands to ``content_bytes`` zero bytes: 4 bytes per
    128 KiB, so 4 GiB take 128 KiB. Without ``declare_size`` the header gives no size."""
    block = 128 << 10
    if declare_size:
        header = bytes([0xC0 | 0x20]) + content_bytes.to_bytes(8, "little")  # 8-byte size, single segment
    else:
        header = bytes([0x00, 17 - 10 << 3])  # no size, a 128 KiB window
    blocks = bytearray()
    left = content_bytes
    while left > 0:
        size = min(block, left)
        left -= size
        blocks += ((size << 3) | (1 << 1) | (1 if left == 0 else 0)).to_bytes(3, "little") + b"\x00"
    return (0xFD2FB528).to_bytes(4, "little") + header + bytes(blocks)


@dataclass
class Run:
    """A finished command: exit code, output, and its own peak resident memory."""

    code: int
    stdout: str
    stderr: str
    peak_mb: float


#: Runs the CLI and writes the process's VmHWM (peak resident memory of this program's own
#: address space; ru_maxrss would count the parent's pages at fork) to $TFTRACE_HWM_FILE.
_MEASURED = """
import atexit, os, sys
def _hwm():
    with open("/proc/self/status") as f:
        peak = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["TFTRACE_HWM_FILE"], "w") as out:
        out.write(peak)
atexit.register(_hwm)
from tftrace.cli import main
main(sys.argv[1:], prog_name="tftrace")
"""


def run_tftrace(*args: str | os.PathLike[str], timeout: float = 120, cwd: Path | None = None) -> Run:
    """Run the tftrace CLI in a fresh interpreter and measure its peak RSS."""
    return run_python(["-c", _MEASURED, *map(str, args)], timeout=timeout, cwd=cwd)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmHWM:"))) / 1024


def run_python(argv: list[str], timeout: float = 120, cwd: Path | None = None) -> Run:
    with tempfile.TemporaryDirectory() as scratch:
        hwm = Path(scratch) / "hwm"
        env = {**os.environ, "TFTRACE_HWM_FILE": str(hwm)}
        proc = subprocess.run([sys.executable, *argv], capture_output=True, timeout=timeout, cwd=cwd, env=env)
        peak = int(hwm.read_text()) / 1024 if hwm.exists() else float("nan")
    return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"), peak)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root`` (not following links): relative path -> (size, mtime_ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst
