"""Where a trace lives: a directory ``X.zarr`` or one zip file ``X.zarr.zip``.

Recording always writes a directory (appending to a zip cannot survive a crash);
a ``.zarr.zip`` target is recorded into ``X.zarr.zip.partial/`` and packed on close.
Reading goes through zarr's stores so both forms share one code path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import zarr
from zarr.storage import LocalStore, ZipStore

from tftrace.errors import TraceExistsError, TraceFormatError, TraceLockedError, TraceNotFoundError

ZIP_SUFFIX = ".zarr.zip"
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"


def is_zip_path(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".zip")


def partial_dir(zip_path: str | os.PathLike[str]) -> Path:
    """The directory a ``.zarr.zip`` trace is recorded into before it is packed."""
    return Path(str(zip_path) + PARTIAL_SUFFIX)


def resolve_for_reading(path: str | os.PathLike[str]) -> Path:
    """The path to read: the zip, or its ``.partial`` directory if recording never finished."""
    p = Path(path)
    if p.exists():
        return p
    if is_zip_path(p) and partial_dir(p).is_dir():
        return partial_dir(p)
    raise TraceNotFoundError(f"{p}: no such trace (expected a directory X.zarr or a file X.zarr.zip)")


class ReadStore:
    """Read access to one trace: raw keys (metadata, log) and the zarr store (arrays).

    Raw keys are read with their size checked first, so a corrupted or hostile
    store cannot make the reader allocate absurd amounts of memory.
    """

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._zarr: LocalStore | ZipStore | None = None
        if path.is_dir():
            if not (path / "zarr.json").is_file():
                raise TraceNotFoundError(f"{path}: not a trace (the directory has no zarr.json)")
            return
        if not zipfile.is_zipfile(path):
            raise TraceFormatError(f"{path}: not a trace (expected a directory or a zip file, got another file)")
        try:
            self._zip = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise TraceFormatError(f"{path}: unreadable zip file: {exc}") from None

    def get(self, key: str, limit: int) -> bytes | None:
        """The bytes stored under ``key``, ``None`` if absent; refuse more than ``limit`` bytes."""
        try:
            if self._zip is not None:
                try:
                    info = self._zip.getinfo(key)
                except KeyError:
                    return None
                size = info.file_size
                self._check_size(key, size, limit)
                return self._zip.read(info)
            file = self.path / key
            if not file.is_file():
                return None
            self._check_size(key, file.stat().st_size, limit)
            return file.read_bytes()
        except TraceFormatError:
            raise
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise TraceFormatError(f"{self.path}: cannot read {key}: {exc}") from None

    def read_into(self, key: str, out: memoryview) -> bool:
        """Read a key of exactly ``len(out)`` bytes into ``out``; False if the key is absent.

        For a directory this reads straight into the caller's (numpy) memory.
        """
        data = None
        try:
            if self._zip is not None:
                data = self.get(key, out.nbytes)
                if data is None:
                    return False
                size = len(data)
            else:
                file = self.path / key
                if not file.is_file():
                    return False
                size = file.stat().st_size
                if size == out.nbytes:
                    with open(file, "rb", buffering=0) as f:
                        size = f.readinto(out)
        except OSError as exc:
            raise TraceFormatError(f"{self.path}: cannot read {key}: {exc}") from None
        if size != out.nbytes:
            raise TraceFormatError(f"chunk {key} is {size} bytes, expected {out.nbytes}")
        if data is not None:
            out[:] = data
        return True

    def _check_size(self, key: str, size: int, limit: int) -> None:
        if size > limit:
            raise TraceFormatError(f"{self.path}: {key} is {size} bytes, more than the {limit} bytes "
                                   "a trace ever writes there: corrupted or not a trace")

    def zarr_store(self) -> LocalStore | ZipStore:
        if self._zarr is None:
            self._zarr = (LocalStore(self.path, read_only=True) if self._zip is None
                          else ZipStore(self.path, mode="r"))
        return self._zarr

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._zarr is not None:
            self._zarr.close()


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The file a recorder locks while it writes ``target`` (beside it, never inside)."""
    return Path(str(target) + LOCK_SUFFIX)


class OutputLock:
    """An exclusive lock on a trace's path, held by one recorder from creation to close.

    ``fcntl.flock`` on ``<path>.lock``: the kernel drops it when the process dies, so a
    killed recording leaves only a stale, unlocked file that the next recorder reuses.
    Where ``fcntl`` does not exist (Windows) no lock is taken.
    """

    def __init__(self, target: Path) -> None:
        self.path = lock_path(target)
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip()
            os.close(fd)
            raise TraceLockedError(
                f"{target}: another recording is writing this trace (lock {self.path} held"
                f"{f' by process {holder}' if holder.isdigit() else ''}); expected no other "
                f"recorder on this path; wait for it to end or choose another path") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # while still holding it
            finally:
                os.close(self._fd)
                self._fd = None


def prepare_directory(target: Path, overwrite: bool) -> None:
    """Make sure ``target`` can be recorded into; refuse to clobber a trace unless asked."""
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise TraceExistsError(f"{target}: already exists; pass overwrite=True or choose another path")
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()) and not (target / "zarr.json").exists():
                raise TraceExistsError(
                    f"{target}: exists and is not a trace; refusing to delete it")
            shutil.rmtree(target)
        else:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)


def open_write_group(directory: Path, attributes: dict) -> zarr.Group:
    return zarr.open_group(LocalStore(directory), mode="w-", attributes=attributes)


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


def pack(source: Path, out: Path) -> None:
    """Pack a directory trace into one zip (entries stored: chunks are compressed already)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".zip")
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for root, dirs, files in os.walk(source):
                dirs.sort()
                for name in sorted(files):
                    if name.startswith(".tmp-"):
                        continue
                    full = Path(root) / name
                    zf.write(full, full.relative_to(source).as_posix())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
