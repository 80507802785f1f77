"""File access that never leaves a trace directory and never follows an existing name.

Reading: every path component under the store's root is opened relative to its
parent's descriptor with ``O_NOFOLLOW``, so a symbolic link anywhere inside a trace
(a chunk linked to ``/etc/passwd``, a ``log`` directory linked elsewhere) is refused
rather than followed, and nothing can swap a component for a link between a check
and the open. Only regular files are read (a FIFO would block, a device never ends).

Writing: :class:`ExclusiveOutput` writes a new file that no other name can alias.
With ``O_TMPFILE`` the file has no name until it is complete and linked into place,
so a process killed at any moment leaves nothing behind; elsewhere it is created
with ``O_EXCL`` under a fresh random name and removed on any failure.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Iterator

from tftrace.errors import TraceFormatError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
#: Relative opens need dir_fd (Linux, macOS, BSD); elsewhere each component is lstat-ed.
_AT = os.open in os.supports_dir_fd and _NOFOLLOW != 0


class LinkRefusedError(TraceFormatError):
    """A trace contains a symbolic link (or a special file) where data should be."""


def open_root(path: Path) -> int | None:
    """A descriptor on the store's root directory (the root itself may be a link: the
    user named it); None where relative opens are not available."""
    if not _AT:
        return None
    return os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)


def _parts(key: str) -> list[str]:
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise TraceFormatError(f"expected a relative key without '.' or '..', got {key!r}")
    return parts


def open_file(root: Path, root_fd: int | None, key: str) -> int | None:
    """Open the regular file ``key`` under the store for reading; None if it is absent.

    Raises :class:`LinkRefusedError` for a symbolic link in any component, and
    :class:`TraceFormatError` for a directory or special file where a file should be.
    """
    parts = _parts(key)
    if root_fd is None:
        return _open_checked(root, parts, key)
    fd = root_fd
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY | (_NONBLOCK if last else _DIRECTORY)
            try:
                new = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR) and not _is_link_at(part, fd):
                    return None
                if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
                    raise LinkRefusedError(_link_message("/".join(parts[:i + 1]))) from None
                raise
            if fd != root_fd:
                os.close(fd)
            fd = new
        _require_regular(fd, key)
        opened, fd = fd, root_fd  # the caller owns it now
        return opened
    finally:
        if fd != root_fd:  # a parent directory's descriptor, or the file on an error
            os.close(fd)


def _is_link_at(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_checked(root: Path, parts: list[str], key: str) -> int | None:
    """Fallback without dir_fd: lstat every component, then open."""
    path = root
    for i, part in enumerate(parts):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            raise LinkRefusedError(_link_message("/".join(parts[:i + 1])))
    fd = os.open(path, os.O_RDONLY | _BINARY | _NONBLOCK)
    try:
        _require_regular(fd, key)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _require_regular(fd: int, key: str) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return  # O_NONBLOCK means nothing for a regular file's reads
    what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
    raise TraceFormatError(f"{key} is {what}, expected a file")


def _link_message(key: str) -> str:
    return (f"{key} is a symbolic link; a trace never contains links, and tftrace does not "
            "follow them out of the store")


def walk_files(root: Path, root_fd: int | None) -> Iterator[str]:
    """Every regular file's key under the store: a directory's files (sorted), then its
    subdirectories, depth first. Refuses links and special files."""
    stack = [""]
    while stack:
        prefix = stack.pop()
        subdirectories = []
        for name, mode in sorted(_scandir(root, root_fd, prefix)):
            key = f"{prefix}{name}"
            if stat.S_ISLNK(mode):
                raise LinkRefusedError(_link_message(key))
            if stat.S_ISDIR(mode):
                subdirectories.append(key + "/")
            elif stat.S_ISREG(mode):
                yield key
            else:
                raise TraceFormatError(f"{key} is not a regular file or directory")
        stack.extend(reversed(subdirectories))


def count_files(root: Path, root_fd: int | None, prefix: str, at_least: int) -> int:
    """Entries other than directories under the directory ``prefix`` (links are counted,
    not followed: reading one is refused with its name), counting stops at ``at_least``."""
    count = 0
    stack = [prefix.rstrip("/") + "/"]
    while stack and count < at_least:
        current = stack.pop()
        try:
            entries = _scandir(root, root_fd, current)
        except (FileNotFoundError, NotADirectoryError, LinkRefusedError):
            continue
        for name, mode in entries:
            if stat.S_ISDIR(mode):
                stack.append(f"{current}{name}/")
            else:
                count += 1
    return count


def _scandir(root: Path, root_fd: int | None, prefix: str) -> list[tuple[str, int]]:
    """(name, lstat mode) of a directory's entries, the directory opened without links."""
    if root_fd is None:
        directory = root / prefix if prefix else root
        if prefix and os.path.islink(directory.as_posix().rstrip("/")):
            raise LinkRefusedError(_link_message(prefix.rstrip("/")))
        with os.scandir(directory) as it:
            return [(e.name, e.stat(follow_symlinks=False).st_mode) for e in it]
    fd = root_fd
    if prefix:
        fd = root_fd
        for i, part in enumerate(_parts(prefix.rstrip("/"))):
            try:
                new = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if fd != root_fd:
                    os.close(fd)
                if exc.errno == errno.ELOOP:
                    raise LinkRefusedError(_link_message(prefix.rstrip("/"))) from None
                raise
            if fd != root_fd:
                os.close(fd)
            fd = new
    try:
        with os.scandir(fd) as it:  # scandir lists a duplicate of fd and closes that one
            return [(e.name, e.stat(follow_symlinks=False).st_mode) for e in it]
    finally:
        if fd != root_fd:
            os.close(fd)


class ExclusiveOutput:
    """A new file for ``target``, written under no name (or a fresh exclusive one) and
    put in place by :meth:`commit`; :meth:`discard` (or a kill) leaves nothing behind.

    ``target`` itself is replaced only at commit, with ``os.replace``; an existing name
    (a link planted beside it) is never opened or followed.
    """

    def __init__(self, target: Path):
        self.target = target
        self.file: BinaryIO
        self._temp: Path | None = None
        directory = target.parent
        fd = None
        if hasattr(os, "O_TMPFILE") and Path("/proc/self/fd").is_dir():
            try:
                fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | _CLOEXEC, 0o666)
            except OSError as exc:  # a filesystem without O_TMPFILE support
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
        if fd is None:
            fd, self._temp = self._exclusive(directory, target.name)
        self.file = os.fdopen(fd, "wb")

    @staticmethod
    def _exclusive(directory: Path, name: str) -> tuple[int, Path]:
        while True:
            temp = directory / f".{name}.tmp-{secrets.token_hex(8)}"
            try:
                return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
                               | _BINARY, 0o666), temp
            except FileExistsError:
                continue

    def commit(self) -> None:
        """Flush, and give the file its name (replacing ``target``)."""
        self.file.flush()
        if self._temp is None:
            # link the unnamed file under a fresh name, then rename it over the target
            # (linkat with AT_SYMLINK_FOLLOW, which os.link uses when given a dir_fd)
            directory = os.open(self.target.parent, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
            try:
                while True:
                    name = f".{self.target.name}.tmp-{secrets.token_hex(8)}"
                    try:
                        os.link(f"/proc/self/fd/{self.file.fileno()}", name, dst_dir_fd=directory,
                                follow_symlinks=True)
                        break
                    except FileExistsError:
                        continue
            finally:
                os.close(directory)
            self._temp = self.target.parent / name
        try:
            os.replace(self._temp, self.target)
        except BaseException:
            self.discard()
            raise
        self._temp = None
        self.file.close()

    def discard(self) -> None:
        """Close and remove whatever was written."""
        try:
            self.file.close()
        except OSError:
            pass
        if self._temp is not None:
            try:
                os.unlink(self._temp)
            except FileNotFoundError:
                pass
            self._temp = None
