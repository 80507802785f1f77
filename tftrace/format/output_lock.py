"""The lock a recorder holds on its trace's path, from creation to close."""

from __future__ import annotations

import os
from pathlib import Path

from tftrace.errors import TraceLockedError

LOCK_SUFFIX = ".lock"


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
