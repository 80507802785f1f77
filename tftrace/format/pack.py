"""Pack a trace into one ``.zarr.zip`` file to archive or attach to CI."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from typing import BinaryIO

from tftrace.errors import TraceExistsError, TraceFormatError, UsageError
from tftrace.format import remote, store, zipping
from tftrace.format.progress import Counter, ProgressCallback
from tftrace.format.reader import open_trace

COPY_BLOCK = 8 << 20


def pack_trace(source: str | os.PathLike[str], out: str | os.PathLike[str], *,
               overwrite: bool = False, progress: ProgressCallback | None = None) -> Path | str:
    """Validate ``source`` as a trace and write it as the single zip file ``out``.

    The source is left untouched; ``out`` appears whole or not at all: it is written
    under no name (or a fresh exclusive one) and renamed into place, so a failure or a
    killed process leaves nothing behind, and no existing name beside it is followed.

    ``progress`` is called with the files and bytes copied so far (format/progress.py).

    Raises
    ------
    UsageError
        ``out`` does not end with ``.zarr.zip``, is the source, or lies inside it.
    TraceExistsError
        ``out`` exists and ``overwrite`` is False.
    TraceWriteError
        Writing ``out`` failed (disk full, ...); nothing was left there.
    """
    if not store.is_zip_path(out):
        raise UsageError(f"{out}: the packed trace must end with {store.ZIP_SUFFIX}")
    with open_trace(source) as trace:
        src = trace.path
    if isinstance(src, str) or remote.is_url(out):
        return _pack_remote(src, str(out), overwrite, progress)
    out_path = Path(remote.local_path(out))
    resolved_out = out_path.resolve()
    if src.resolve() == resolved_out:
        raise UsageError(f"{out_path}: is the source itself")
    if src.is_dir() and resolved_out.is_relative_to(src.resolve()):
        raise UsageError(f"{out_path}: lies inside the trace being packed ({src}); "
                         "choose a path outside it")
    if (out_path.exists() or out_path.is_symlink()) and not overwrite:
        raise TraceExistsError(f"{out_path}: already exists; choose another path or replace it",
                               option="overwrite")
    if src.is_dir():
        zipping.pack(src, out_path, progress)
    else:  # already one zip file: copy it whole
        _copy_file(src, out_path, progress)
    return out_path


def _pack_remote(src: Path | str, out: str, overwrite: bool,
                 progress: ProgressCallback | None) -> str:
    """Pack where the source or the output is on object storage: the zip is built in a
    local temporary folder, then uploaded whole (an object appears whole or not at all)."""
    if src == out:
        raise UsageError(f"{out}: is the source itself")
    if isinstance(src, str) and out.startswith(src.rstrip("/") + "/"):
        raise UsageError(f"{out}: lies inside the trace being packed ({src}); choose a URL outside it")
    if not remote.is_url(out):
        local = Path(remote.local_path(out))
        if (local.exists() or local.is_symlink()) and not overwrite:
            raise TraceExistsError(f"{local}: already exists; choose another path or replace it",
                                   option="overwrite")
        zipping.pack(src, local, progress)
        return str(local)
    if remote.exists(out) and not overwrite:
        raise TraceExistsError(f"{out}: already exists; choose another URL or replace it",
                               option="overwrite")
    with tempfile.TemporaryDirectory(prefix="tftrace-pack-") as tmp:
        local = Path(tmp) / "trace.zarr.zip"
        zipping.pack(src, local, progress)
        remote.Mirror(out, Path(tmp), keep_local=True).upload_file(local)
    return out


def _copy_file(src: Path, out: Path, progress: ProgressCallback | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = open(src, "rb")
    except OSError as exc:
        raise TraceFormatError(f"{src}: cannot read the trace: {exc.strerror or exc}") from None
    done = Counter(progress, 1, os.fstat(source.fileno()).st_size)
    with source, zipping.exclusive_output(out) as output:
        while block := _read(source, src):
            output.write(block)
            done.advance(0, len(block))
        done.advance(1)


def _read(source: BinaryIO, src: Path) -> bytes:
    try:
        return source.read(COPY_BLOCK)
    except OSError as exc:
        raise TraceFormatError(f"{src}: cannot read the trace: {exc.strerror or exc}") from None
