"""Traces on object storage: any fsspec URL (``s3://``, ``gs://``, ``memory://``, ...).

Reading goes through :class:`RemoteReadStore`, the same bounded interface as a local
:class:`~tftrace.format.store.ReadStore`: sizes are known from one listing before any
read, and a zip is read through the same checked zip code. Recording writes a local
staging directory exactly as a local recording does and :class:`Mirror` uploads it at
every flush of the log, chunks first and then the new log segment, each as its own
object: a killed run leaves on the store every event whose segment was uploaded, with
its values (docs/format.md, "Object storage").

fsspec and the filesystem's package (``s3fs`` for ``s3://``) are optional
(``pip install 'tftrace[s3]'``) and imported only when a URL is used. Credentials come
from where the filesystem looks for them (environment, config files); a URL that
carries them is refused, so they never reach a trace or a report.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator
from urllib.parse import urlsplit

from tftrace.errors import TraceFormatError, TraceNotFoundError, TraceWriteError, UsageError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: The extra to install for each scheme's filesystem package (fsspec's own need none).
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


def is_url(path: str | os.PathLike[str]) -> bool:
    """True for a URL tftrace reads through fsspec (``file://`` is a local path)."""
    match = _SCHEME.match(str(path))
    return match is not None and match.group(1).lower() != "file"


def local_path(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``file:///x/y`` as the local path ``/x/y``; anything else unchanged."""
    text = str(path)
    if text.lower().startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{text}: a file:// URL names a file on this machine "
                             "(file:///path), not on host {parts.netloc!r}")
        return parts.path
    return path


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it (no trailing slash)."""
    scheme = _SCHEME.match(url)
    assert scheme is not None
    netloc = urlsplit(url).netloc
    if "@" in netloc:
        raise UsageError(f"{scheme.group(1)}://...: a URL with credentials in it; tftrace takes "
                         "credentials only from the environment or the filesystem's config files, "
                         "so that they never reach a trace or a report")
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError:
        raise UsageError(f"{url}: reading or writing URLs needs fsspec: "
                         f"pip install 'tftrace[{EXTRAS.get(scheme.group(1).lower(), 'remote')}]'") from None
    try:
        fs, inner = url_to_fs(url)
    except ImportError as exc:  # the scheme's package (s3fs, gcsfs, ...) is missing
        extra = EXTRAS.get(scheme.group(1).lower(), "remote")
        raise UsageError(f"{url}: {exc}; install it with pip install 'tftrace[{extra}]'") from None
    except (ValueError, KeyError) as exc:
        known = ", ".join(sorted(p for p in fsspec.available_protocols() if len(p) > 1)[:12])
        raise UsageError(f"{url}: no filesystem for this URL ({exc}); known: {known}, ...") from None
    return fs, inner.rstrip("/")


def exists(url: str) -> bool:
    fs, inner = filesystem(url)
    with _errors(url, "read"):
        fs.invalidate_cache()
        return bool(fs.exists(inner))


def resolve_for_reading(url: str) -> str:
    """The URL to read: the trace, or a zip's ``.partial`` prefix if it was never packed."""
    from tftrace.format.store import PARTIAL_SUFFIX, is_zip_path

    fs, inner = filesystem(url)
    with _errors(url, "read"):
        fs.invalidate_cache()
        if fs.exists(inner):
            return url
        if is_zip_path(url) and fs.exists(inner + PARTIAL_SUFFIX + "/zarr.json"):
            return url + PARTIAL_SUFFIX
    raise TraceNotFoundError(f"{url}: no such trace (expected X.zarr or a file X.zarr.zip there)")


@contextlib.contextmanager
def _errors(url: str, doing: str, key: str | None = None) -> Iterator[None]:
    """Errors of the filesystem (network, permissions, missing bucket) as one-line tftrace errors."""
    try:
        yield
    except (TraceFormatError, TraceNotFoundError, UsageError, TraceWriteError):
        raise
    except Exception as exc:  # fsspec filesystems raise their own types (botocore, aiohttp, ...)
        what = f" {key}" if key else ""
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if doing == "write":
            raise TraceWriteError(f"{url}: cannot write{what} to the object store: {reason}",
                                  errno=getattr(exc, "errno", None)) from None
        if isinstance(exc, FileNotFoundError):
            raise TraceNotFoundError(f"{url}: no such trace ({reason})") from None
        raise TraceFormatError(f"{url}: cannot read{what}: {reason}") from None


def list_files(fs: Any, inner: str) -> dict[str, int]:
    """Every object under ``inner``: key relative to it -> size, from one listing."""
    fs.invalidate_cache(inner)  # another process may have written since this one listed
    listing = fs.find(inner, detail=True)
    files: dict[str, int] = {}
    prefix = inner + "/"
    for name, info in listing.items():
        if info.get("type") == "directory" or not name.startswith(prefix):
            continue
        files[name[len(prefix):]] = int(info.get("size") or 0)
    return files


class RemoteDirectory:
    """The directory form of a trace under a URL, with the listing taken once on open."""

    def __init__(self, url: str):
        self.url = url
        self.fs, self.inner = filesystem(url)
        with _errors(url, "read"):
            self.files = list_files(self.fs, self.inner)
        if "zarr.json" not in self.files:
            raise TraceNotFoundError(f"{url}: not a trace (no zarr.json under it)")

    def open(self, key: str) -> BinaryIO:
        with _errors(self.url, "read", key):
            # no read-ahead cache: reads are bounded by the caller, block by block
            return self.fs.open(f"{self.inner}/{key}", "rb", block_size=8 << 20, cache_type="none")


def open_remote_zip(url: str) -> BinaryIO:
    """A seekable file object of a zip on the store (zipfile reads it by ranges)."""
    fs, inner = filesystem(url)
    with _errors(url, "read"):
        if not fs.isfile(inner):
            raise TraceFormatError(f"{url}: not a trace (expected a prefix X.zarr or an object "
                                   "X.zarr.zip)")
        return fs.open(inner, "rb", block_size=4 << 20, cache_type="readahead")


_VALUES = ("arrays/", "packs/")  # the value files: uploaded before the segments logging them


class Mirror:
    """Uploads a recording's staging directory to its URL, in an order a reader can trust.

    The writer tells the mirror what it wrote (:meth:`wrote`: an array's directory, a
    closed pack's, a log segment) and :meth:`sync` uploads just that, so a flush costs what it adds, not what
    the recording holds; the first sync uploads the whole directory (the group metadata
    and first segment, written before the mirror existed). The array and pack files (chunks
    and their ``zarr.json``) go before the log segments that name them, and the segments in
    order, so that any prefix of uploads is a readable trace; what a failed upload left
    is tried again, in the same order, at the next sync. Array files of a directory-form
    target are deleted locally once uploaded (the local disk then holds only what is
    not on the store yet); a zip target keeps them, to pack on close.
    """

    def __init__(self, url: str, staging: Path, *, keep_local: bool):
        self.url = url
        self.fs, self.inner = filesystem(url)
        self.staging = staging
        self.keep_local = keep_local
        self._told: list[str] = [""]  # "" is the whole staging directory: the first sync
        self._pending: dict[str, None] = {}  # files to upload, in the order they were told

    @staticmethod
    def prepare(url: str, overwrite: bool) -> None:
        """Refuse to record over an existing trace unless asked; remove it when asked."""
        from tftrace.errors import TraceExistsError

        fs, inner = filesystem(url)
        with _errors(url, "write"):
            if not fs.exists(inner):
                return
            if not overwrite:
                raise TraceExistsError(f"{url}: already exists; choose another URL or replace it",
                                       option="overwrite")
            if fs.isdir(inner) and not fs.exists(inner + "/zarr.json"):
                raise TraceExistsError(f"{url}: exists and is not a trace; refusing to delete it")
            fs.rm(inner, recursive=True)

    def wrote(self, key: str) -> None:
        """The writer wrote ``key`` (a file or an array's directory) since the last sync."""
        self._told.append(key)

    def sync(self) -> None:
        """Upload what the writer wrote since the last sync, and what a failed sync left."""
        for told in self._told:
            for key in _walk(self.staging, told):
                if not key.rsplit("/", 1)[-1].startswith(".tmp-"):
                    self._pending[key] = None
        self._told.clear()
        segments = sorted((int(key.split("/", 1)[1]), key) for key in self._pending
                          if key.startswith("log/"))
        others = [key for key in self._pending if not key.startswith("log/")]
        values = [key for key in others if key.startswith(_VALUES)]
        for key in sorted(others, key=lambda key: key.startswith(_VALUES)):  # top level first
            self._put(key)
        if not self.keep_local:  # an array or a closed pack is whole once told: drop its files
            for head in {tuple(key.split("/")[:2]) for key in values if key.count("/") >= 2}:
                shutil.rmtree(self.staging.joinpath(*head), ignore_errors=True)
        for _, key in segments:
            self._put(key)

    def _put(self, key: str) -> None:
        with _errors(self.url, "write", key):
            self.fs.put_file(str(self.staging / key), f"{self.inner}/{key}")
        del self._pending[key]

    def upload_file(self, local: Path) -> None:
        """Put one local file at the URL itself (a packed zip)."""
        with _errors(self.url, "write"):
            self.fs.put_file(str(local), self.inner)

    def remove(self) -> None:
        with _errors(self.url, "write"):
            self.fs.rm(self.inner, recursive=True)


def _walk(root: Path, key: str = "") -> Iterator[str]:
    """The files at ``key`` under ``root`` (the key itself, or the files below it), as keys."""
    start = root / key if key else root
    if start.is_file():
        yield key
        return
    for directory, _, names in os.walk(start):
        rel = os.path.relpath(directory, root)
        for name in names:
            yield name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")


def staging_directory() -> Path:
    """A fresh local directory a recording to a URL writes before it uploads."""
    return Path(tempfile.mkdtemp(prefix="tftrace-staging-"))


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
