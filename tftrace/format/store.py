"""Where a trace lives: a directory ``X.zarr`` or one zip file ``X.zarr.zip``.

Recording always writes a directory (appending to a zip cannot survive a crash);
a ``.zarr.zip`` target is recorded into ``X.zarr.zip.partial/`` and packed on close.
Reading goes through :class:`ReadStore`, one bounded, link-refusing code path for both
forms; nothing here imports zarr-python (the writer writes the zarr v3 metadata itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from tftrace.errors import (TftraceError, TraceExistsError, TraceFormatError,
                            TraceNotFoundError)
from tftrace.format import safe_fs
from tftrace.format.output_lock import LOCK_SUFFIX, OutputLock, lock_path  # noqa: F401 (their old home)

ZIP_SUFFIX = ".zarr.zip"
PARTIAL_SUFFIX = ".partial"


def is_zip_path(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".zip")


def partial_dir(zip_path: str | os.PathLike[str]) -> Path:
    """The directory a ``.zarr.zip`` trace is recorded into before it is packed."""
    return Path(str(zip_path) + PARTIAL_SUFFIX)


def resolve_for_reading(path: str | os.PathLike[str]) -> Path | str:
    """The path to read: the zip, or its ``.partial`` directory if recording never finished.

    A URL (``s3://...``, format/remote.py) stays a string; ``file://`` is a local path.
    """
    from tftrace.format import remote

    if remote.is_url(path):
        return remote.resolve_for_reading(str(path))
    p = Path(remote.local_path(path))
    if "\0" in str(p):
        raise TraceNotFoundError(f"{p}: no such trace (a path never contains a NUL character)")
    if p.exists():
        return p
    if is_zip_path(p) and partial_dir(p).is_dir():
        return partial_dir(p)
    raise TraceNotFoundError(f"{p}: no such trace (expected a directory X.zarr or a file X.zarr.zip)")


def open_read_store(resolved: Path | str) -> ReadStore:
    """The :class:`ReadStore` of a path or URL :func:`resolve_for_reading` returned."""
    if isinstance(resolved, str):
        from tftrace.format.remote_store import RemoteReadStore

        return RemoteReadStore(resolved)
    return ReadStore(resolved)


class ReadStore:
    """Read access to one trace's keys (metadata, log segments, chunks), directory or zip.

    Every read is bounded: sizes are checked before reading, so a corrupted or hostile
    store cannot make the reader allocate absurd amounts of memory. In a directory no
    symbolic link is followed (``safe_fs``); in a zip only stored or deflated,
    unencrypted entries are read, and never more than their declared size.
    """

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._root_fd: int | None = None
        self._counts: dict[str, int] | None = None
        if path.is_dir():
            try:
                self._root_fd = safe_fs.open_root(path)
                fd = safe_fs.open_file(path, self._root_fd, "zarr.json")
            except TraceFormatError as exc:
                self.close()
                raise TraceFormatError(f"{path}: {exc}") from None
            except OSError as exc:
                self.close()
                raise TraceFormatError(f"{path}: cannot read the trace: {exc.strerror or exc}") from None
            if fd is None:
                self.close()
                raise TraceNotFoundError(f"{path}: not a trace (the directory has no zarr.json)")
            os.close(fd)
            return
        try:
            if not zipfile.is_zipfile(path):
                raise TraceFormatError(f"{path}: not a trace (expected a directory or a zip file, "
                                       "got another file)")
            self._zip = zipfile.ZipFile(path, "r")
        except TraceFormatError:
            raise
        except Exception as exc:  # zipfile raises many types on a corrupted central directory
            raise TraceFormatError(f"{path}: unreadable zip file: {_reason(exc)}") from None
        names = self._zip.namelist()
        if len(set(names)) != len(names):
            self.close()
            raise TraceFormatError(f"{path}: the zip file holds several entries of one name: "
                                   "corrupted or not a trace")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def get(self, key: str, limit: int) -> bytes | None:
        """The bytes stored under ``key``, ``None`` if absent; refuse more than ``limit`` bytes."""
        with self._opened(key, limit) as f:
            if f is None:
                return None
            # one more byte than checked (a file of the checked size reads whole), no bigger buffer
            size = os.fstat(f.fileno()).st_size if self._zip is None else limit
            data = f.read(min(size, limit) + 1)
        if len(data) > limit:  # a file that grew while read
            self._check_size(key, len(data), limit)
        return data

    def read_into(self, key: str, out: memoryview) -> bool:
        """Read a key of exactly ``len(out)`` bytes into ``out``; False if the key is absent."""
        with self._opened(key, out.nbytes) as f:
            if f is None:
                return False
            size = self._readinto_full(f, out)
            extra = f.read(1)
        if size != out.nbytes or extra:
            raise TraceFormatError(f"chunk {key} is {'more than ' if extra else ''}{size} bytes, "
                                   f"expected {out.nbytes}")
        return True

    def read_range(self, key: str, offset: int, out: memoryview) -> bool:
        """Fill ``out`` with the bytes of ``key`` from ``offset`` (a packed value: one read, at any
        offset of a stored zip entry); False if absent; a key too short: :class:`TraceFormatError`."""
        size = self.size(key)
        if size is None:
            return False
        self._check_range(key, size, offset, out.nbytes)
        with self._converted(key):
            if self._zip is not None:
                done = self._zip_range(key, offset, out)
            else:
                fd = safe_fs.open_file(self.path, self._root_fd, key)
                if fd is None:
                    return False
                try:
                    done = 0
                    while done < out.nbytes and (n := os.preadv(fd, [out[done:]], offset + done)):
                        done += n
                finally:
                    os.close(fd)
        self._check_read(key, offset, done, out.nbytes)
        return True

    def _check_range(self, key: str, size: int, offset: int, nbytes: int) -> None:
        """A range read of ``nbytes`` at ``offset`` must lie within the key's ``size``."""
        if offset + nbytes > size:
            raise TraceFormatError(f"{self.path}: {key} is {size} bytes; expected at least "
                                   f"{offset + nbytes} (bytes {offset} to {offset + nbytes})")

    def _check_read(self, key: str, offset: int, done: int, nbytes: int) -> None:
        """A range read must have filled all ``nbytes`` (the key shrank while read)."""
        if done != nbytes:
            raise TraceFormatError(f"{self.path}: {key} ended after {offset + done} bytes; expected {offset + nbytes}")

    def _zip_range(self, key: str, offset: int, out: memoryview) -> int:
        """A range of a zip entry: straight from the archive for a stored entry (its data
        start read from its local header), else read through from the entry's start."""
        assert self._zip is not None
        info = self._zip.NameToInfo[key]
        self._check_entry(info)
        if info.compress_type != zipfile.ZIP_STORED:
            with self._zip.open(info) as f:
                f.seek(offset)
                return self._readinto_full(f, out)
        with self._zip._lock:  # type: ignore[attr-defined]  # the archive's one file position
            fp: Any = self._zip.fp
            fp.seek(info.header_offset)
            header = fp.read(30)
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise TraceFormatError(f"zip entry {key} has no local header where the index says")
            start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") \
                + int.from_bytes(header[28:30], "little")
            fp.seek(start + offset)
            return self._readinto_full(fp, out)

    def size(self, key: str) -> int | None:
        """The declared size of ``key`` (None if absent), without reading it."""
        try:
            if self._zip is not None:
                info = self._zip.NameToInfo.get(key)
                return None if info is None else info.file_size
            fd = safe_fs.open_file(self.path, self._root_fd, key)
            if fd is None:
                return None
            try:
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        except TraceFormatError as exc:
            raise TraceFormatError(f"{self.path}: {exc}") from None
        except OSError as exc:
            raise TraceFormatError(f"{self.path}: cannot read {key}: {exc.strerror or exc}") from None

    @contextlib.contextmanager
    def open(self, key: str, limit: int) -> Iterator[BinaryIO | None]:
        """A binary stream of ``key`` (None if absent) that yields at most its checked size."""
        with self._opened(key, limit) as f:
            yield f

    @contextlib.contextmanager
    def _opened(self, key: str, limit: int) -> Iterator[Any]:
        with self._converted(key):
            f = self._open(key, limit)
        if f is None:
            yield None
            return
        try:
            with self._converted(key, body=True):
                yield f
        finally:
            f.close()

    def _open(self, key: str, limit: int) -> Any:
        if self._zip is not None:
            info = self._zip.NameToInfo.get(key)
            if info is None:
                return None
            self._check_entry(info)
            self._check_size(key, info.file_size, limit)
            return self._zip.open(info)
        fd = safe_fs.open_file(self.path, self._root_fd, key)
        if fd is None:
            return None
        f = os.fdopen(fd, "rb", buffering=0)
        try:
            self._check_size(key, os.fstat(fd).st_size, limit)
        except BaseException:
            f.close()
            raise
        return f

    @contextlib.contextmanager
    def _converted(self, key: str, body: bool = False) -> Iterator[None]:
        """Errors of reading ``key`` as one-line TraceFormatErrors naming the store; in the
        caller's ``body`` its own TftraceErrors pass unchanged."""
        try:
            yield
        except TftraceError as exc:
            if body or str(exc).startswith(str(self.path)):
                raise
            raise type(exc)(f"{self.path}: {exc}") from None
        except OSError as exc:
            raise TraceFormatError(f"{self.path}: cannot read {key}: {exc.strerror or exc}") from None
        except Exception as exc:  # zipfile / zlib: BadZipFile, zlib.error, EOFError, ...
            raise TraceFormatError(f"{self.path}: cannot read {key}: {_reason(exc)}") from None

    @staticmethod
    def _readinto_full(f: Any, out: memoryview) -> int:
        done = 0
        while done < out.nbytes:
            n = f.readinto(out[done:])
            if not n:
                break
            done += n
        return done

    def read_block(self, stream: BinaryIO, key: str, size: int) -> bytes:
        """Up to ``size`` bytes of an opened ``key``; errors name the store and key."""
        with self._converted(key):
            return stream.read(size)

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        if info.flag_bits & 0x1:
            raise TraceFormatError(f"zip entry {info.filename} is encrypted; a trace's entries are "
                                   "never encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise TraceFormatError(
                f"zip entry {info.filename} uses compression method {info.compress_type}; expected "
                f"stored ({zipfile.ZIP_STORED}) or deflate ({zipfile.ZIP_DEFLATED}): unzip it and "
                "read the directory, or re-pack it with `tftrace pack`")

    def _check_size(self, key: str, size: int, limit: int) -> None:
        if size > limit:
            raise TraceFormatError(f"{self.path}: {key} is {size} bytes, more than the {limit} bytes "
                                   "a trace ever holds there: corrupted or not a trace")

    def count_files(self, prefix: str, at_least: int) -> int:
        """How many files lie under the directory ``prefix`` (counting stops at ``at_least``)."""
        prefix = prefix.rstrip("/") + "/"
        if self._zip is not None:
            if self._counts is None:  # one pass over the zip's index, on first use
                counts: dict[str, int] = {}
                for name in self._zip.NameToInfo:
                    if name.startswith("arrays/") and not name.endswith("/"):
                        head = "/".join(name.split("/", 2)[:2]) + "/"
                        counts[head] = counts.get(head, 0) + 1
                self._counts = counts
            if prefix.count("/") == 2 and prefix.startswith("arrays/"):
                return self._counts.get(prefix, 0)
            return sum(1 for name in self._zip.NameToInfo if name.startswith(prefix)
                       and not name.endswith("/"))
        try:
            return safe_fs.count_files(self.path, self._root_fd, prefix, at_least)
        except OSError as exc:
            raise TraceFormatError(f"{self.path}: cannot list {prefix}: {exc.strerror or exc}") from None

    def keys(self) -> Iterator[str]:
        """Every file's key (for pack); refuses links and special files in a directory."""
        if self._zip is not None:
            yield from (name for name in self._zip.NameToInfo if not name.endswith("/"))
            return
        with self._converted("its file list"):
            yield from safe_fs.walk_files(self.path, self._root_fd)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None

    def __del__(self) -> None:  # a Trace that is never closed must not keep its directory open
        try:
            self.close()
        except Exception:
            pass


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def prepare_directory(target: Path, overwrite: bool) -> None:
    """Make sure ``target`` can be recorded into; refuse to clobber a trace unless asked."""
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise TraceExistsError(f"{target}: already exists; choose another path or replace it",
                                   option="overwrite")
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()) and not (target / "zarr.json").exists():
                raise TraceExistsError(
                    f"{target}: exists and is not a trace; refusing to delete it")
            shutil.rmtree(target)
        else:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)


def create_group(directory: Path, attributes: dict[str, Any]) -> None:
    """Write a new zarr v3 group's ``zarr.json`` (an error if one is there), as zarr-python does.

    Written directly, like the arrays' metadata (``chunkio.array_metadata``): zarr-python's
    ``open_group`` cost each recording process an import (0.35 s of CPU) and each trace
    about 15 ms of hand-offs to its event-loop thread on a busy machine (measured), for
    two small files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"attributes": attributes, "zarr_format": 3, "node_type": "group"}
    with open(directory / "zarr.json", "xb") as f:  # exclusive: never follows a planted link
        f.write(json.dumps(meta, indent=2).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a whole file or nothing: a process killed mid-write leaves no torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; a trace file honours the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def file_mode() -> int:
    """0666 less the process's umask: the mode ``open()`` would give a new file."""
    try:  # Linux: read it without changing it (os.umask is not thread-safe)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
