"""Reading a trace under an fsspec URL through the same bounded interface as a local one."""

from __future__ import annotations

import zipfile
from typing import Any, BinaryIO, Iterator

from tftrace.errors import TraceFormatError
from tftrace.format import remote
from tftrace.format.store import ReadStore, is_zip_path


class RemoteReadStore(ReadStore):
    """A :class:`ReadStore` over object storage: a prefix ``X.zarr`` or an object ``X.zarr.zip``.

    The prefix's listing is taken once, on open, so every size is known before a read
    (the limits apply as locally) and a trace being recorded is read as the prefix it
    was at that moment. A zip is read by ranges through the checked zip code.
    """

    def __init__(self, url: str):  # pylint: disable=super-init-not-called
        self.path = url  # type: ignore[assignment]  # a URL where a local store has a Path
        self._zip = None
        self._root_fd = None
        self._counts = None
        self._directory: remote.RemoteDirectory | None = None
        self._file: BinaryIO | None = None
        if not is_zip_path(url) or url.endswith(".partial"):
            self._directory = remote.RemoteDirectory(url)
            return
        self._file = remote.open_remote_zip(url)
        try:
            self._zip = zipfile.ZipFile(self._file, "r")
        except Exception as exc:  # zipfile raises many types on a corrupted central directory
            self.close()
            raise TraceFormatError(f"{url}: unreadable zip file: {type(exc).__name__}: {exc}") from None
        names = self._zip.namelist()
        if len(set(names)) != len(names):
            self.close()
            raise TraceFormatError(f"{url}: the zip file holds several entries of one name: "
                                   "corrupted or not a trace")

    def get(self, key: str, limit: int) -> bytes | None:
        if self._directory is None:
            return super().get(key, limit)
        with self._opened(key, limit) as f:
            if f is None:
                return None
            data = f.read(min(self._directory.files[key], limit) + 1)
        if len(data) > limit:
            self._check_size(key, len(data), limit)
        return data

    def size(self, key: str) -> int | None:
        if self._directory is None:
            return super().size(key)
        return self._directory.files.get(key)

    def read_range(self, key: str, offset: int, out: memoryview) -> bool:
        if self._directory is None:
            return super().read_range(key, offset, out)
        size = self._directory.files.get(key)
        if size is None:
            return False
        self._check_range(key, size, offset, out.nbytes)
        with self._converted(key):
            with self._directory.open(key) as f:
                f.seek(offset)
                done = self._readinto_full(f, out)
        self._check_read(key, offset, done, out.nbytes)
        return True

    def _open(self, key: str, limit: int) -> Any:
        if self._directory is None:
            return super()._open(key, limit)
        size = self._directory.files.get(key)
        if size is None:
            return None
        self._check_size(key, size, limit)
        return self._directory.open(key)

    def count_files(self, prefix: str, at_least: int) -> int:
        if self._directory is None:
            return super().count_files(prefix, at_least)
        prefix = prefix.rstrip("/") + "/"
        if self._counts is None:  # one pass over the listing, on first use
            counts: dict[str, int] = {}
            for name in self._directory.files:
                if name.startswith("arrays/"):
                    head = "/".join(name.split("/", 2)[:2]) + "/"
                    counts[head] = counts.get(head, 0) + 1
            self._counts = counts
        if prefix.count("/") == 2 and prefix.startswith("arrays/"):
            return self._counts.get(prefix, 0)
        return sum(1 for name in self._directory.files if name.startswith(prefix))

    def keys(self) -> Iterator[str]:
        if self._directory is None:
            yield from super().keys()
            return
        yield from self._directory.files

    def close(self) -> None:
        super().close()
        if self._file is not None:
            self._file.close()
            self._file = None
