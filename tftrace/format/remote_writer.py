"""A trace written to object storage: a local staging directory that ``remote.Mirror``
uploads at every flush (``TraceWriter.create`` with a URL), and its last upload on close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from tftrace.errors import TraceWriteError
from tftrace.format import remote, store, zipping
from tftrace.format.write_errors import writing

if TYPE_CHECKING:
    from tftrace.format.writer import TraceWriter


def create_remote(cls: type[TraceWriter], url: str, environment: Mapping[str, Any], capture: str,
                  overwrite: bool, digest_scheme: str, late_values: bool = False) -> TraceWriter:
    """Record into a local staging directory that :class:`remote.Mirror` uploads to ``url``
    at every flush (a zip target: to ``url.partial``, packed and uploaded on close)."""
    zipped = store.is_zip_path(url)
    remote.Mirror.prepare(url, overwrite)
    mirror_url = url + store.PARTIAL_SUFFIX if zipped else url
    if zipped:
        remote.Mirror.prepare(mirror_url, overwrite=True)  # a killed recording's leftovers
    staging = remote.staging_directory()
    try:
        with writing(url):
            writer = cls(url, staging / "trace", capture, environment, digest_scheme, late_values)
        writer._mirror = remote.Mirror(mirror_url, staging / "trace", keep_local=zipped)
        writer._mirror.sync()
    except BaseException:
        remote.remove_staging(staging)
        raise
    return writer


def close_remote(writer: TraceWriter, mirror: remote.Mirror) -> None:
    """A zip URL: pack the staging directory, upload the zip, drop the ``.partial`` prefix."""
    try:
        if store.is_zip_path(writer.path):
            packed = writer.directory.parent / "packed.zarr.zip"
            with writing(packed):
                zipping.pack(writer.directory, packed)
            remote.Mirror(str(writer.path), writer.directory.parent, keep_local=True).upload_file(packed)
            mirror.remove()
    except TraceWriteError as exc:  # keep what the store does not hold
        raise TraceWriteError(f"{exc}; what was not uploaded is kept in {writer.directory}",
                              errno=exc.errno) from None
    remote.remove_staging(writer.directory.parent)
