"""Packing a directory trace into one ``.zarr.zip`` file, written whole or not at all."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator

from tftrace.errors import TftraceError, TraceWriteError
from tftrace.format import safe_fs
from tftrace.format.progress import Counter, ProgressCallback
from tftrace.format.store import ReadStore, open_read_store


def pack(source: Path | str, out: Path, progress: ProgressCallback | None = None) -> None:
    """Pack a directory trace into one zip (entries stored: chunks are compressed already).

    The zip is written to a file with no name (or a fresh exclusive one) and renamed
    to ``out`` when whole; links and special files in ``source`` are refused, never
    followed, and a failure leaves nothing behind. A write error names ``out``. The
    source may be a URL on object storage (a prefix or a zip object), read the same way.
    ``progress`` is called after each file copied (files and bytes done of all).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    read_store = open_read_store(source)
    try:
        with exclusive_output(out) as output:
            with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                keys = [key for key in read_store.keys()
                        # a log segment a killed writer had not renamed yet stays out
                        if not key.rsplit("/", 1)[-1].startswith(".tmp-")]
                sizes = [read_store.size(key) or 0 for key in keys] if progress else [0] * len(keys)
                done = Counter(progress, len(keys), sum(sizes))
                for key, size in zip(keys, sizes):
                    _copy_entry(read_store, key, zf)
                    done.advance(1, size)
    finally:
        read_store.close()


COPY_BLOCK = 8 << 20


@contextlib.contextmanager
def exclusive_output(out: Path) -> Iterator[BinaryIO]:
    """A new file that becomes ``out`` when the block ends without error.

    Nothing is left behind on failure (or, with ``O_TMPFILE``, on kill). Reads in the
    block must raise :class:`TftraceError` s (a :class:`ReadStore` does); any other
    ``OSError`` is a write error and becomes a :class:`TraceWriteError` naming ``out``.
    """
    try:
        output = safe_fs.ExclusiveOutput(out)
    except OSError as exc:
        raise TraceWriteError(f"{out}: cannot create the packed trace: {exc.strerror or exc}") from None
    try:
        yield output.file
        output.commit()
    except TftraceError:
        output.discard()
        raise
    except OSError as exc:
        output.discard()
        raise TraceWriteError(f"{out}: cannot write the packed trace: {exc.strerror or exc}; "
                              "nothing was written there") from None
    except BaseException:
        output.discard()
        raise


def _copy_entry(read_store: ReadStore, key: str, zf: zipfile.ZipFile) -> None:
    with read_store.open(key, 1 << 62) as src:
        if src is None:  # removed while packing
            return
        info = zipfile.ZipInfo(key, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        with zf.open(info, "w", force_zip64=True) as dst:
            while block := read_store.read_block(src, key, COPY_BLOCK):
                dst.write(block)
