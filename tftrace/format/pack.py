"""Pack a trace into one ``.zarr.zip`` file to archive or attach to CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tftrace.errors import TraceExistsError, UsageError
from tftrace.format import store
from tftrace.format.reader import open_trace


def pack_trace(source: str | os.PathLike[str], out: str | os.PathLike[str], *,
               overwrite: bool = False) -> Path:
    """Validate ``source`` as a trace and write it as the single zip file ``out``.

    The source is left untouched; ``out`` appears whole or not at all.
    """
    out_path = Path(out)
    if not store.is_zip_path(out_path):
        raise UsageError(f"{out_path}: the packed trace must end with {store.ZIP_SUFFIX}")
    with open_trace(source) as trace:
        src = trace.path
    if out_path.exists() and not overwrite:
        raise TraceExistsError(f"{out_path}: already exists; pass --overwrite to replace it")
    if src.resolve() == out_path.resolve():
        raise UsageError(f"{out_path}: is the source itself")
    if src.is_dir():
        store.pack(src, out_path)
    else:  # already one zip file: copy it whole
        tmp = out_path.with_name(out_path.name + ".tmp-copy")
        shutil.copyfile(src, tmp)
        os.replace(tmp, out_path)
    return out_path
