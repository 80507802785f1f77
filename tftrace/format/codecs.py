"""Decode one chunk's bytes with a bounded output: never more than the chunk's declared size.

A hostile chunk can claim (zstd frame header) or expand to (deflate, zstd without a
content size) gigabytes from a few kilobytes. Every decoder here is given the exact
number of bytes the chunk must decode to, checks any size the data declares against
it before allocating, and stops decompressing one byte past it.

Codecs read (zarr v3 names): ``bytes`` (little or big endian), then at most one of
``zstd`` and ``gzip``, optionally followed by ``crc32c``. tftrace writes ``bytes`` and
``zstd``; anything else is refused with a message naming the codec.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs import zstd as _zstd

from tftrace.errors import TraceFormatError

COMPRESSORS = ("zstd", "gzip")
CHECKSUMS = ("crc32c",)
_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE = 0xFFFFFFF0, 0x184D2A50
_UNKNOWN = -1


@dataclass(frozen=True)
class CodecChain:
    """A validated zarr v3 ``codecs`` list that tftrace can decode."""

    endian: str                 # "little" or "big"
    compressor: str | None      # "zstd", "gzip" or None
    crc32c: bool = False        # a 4-byte CRC-32C follows the (compressed) bytes

    @property
    def compressed(self) -> bool:
        return self.compressor is not None

    def max_stored_bytes(self, decoded: int, slack: int) -> int:
        """The most bytes a chunk file of ``decoded`` bytes can take with these codecs."""
        size = decoded + (decoded >> 6) + slack if self.compressed else decoded
        return size + (4 if self.crc32c else 0)


def parse_codecs(codecs: Any, itemsize: int) -> CodecChain:
    """Validate a ``codecs`` list; raises :class:`TraceFormatError` naming what is unsupported."""
    if not isinstance(codecs, list) or not codecs:
        raise TraceFormatError(f"expected a non-empty list of codecs, got {codecs!r:.80}")
    names = [_codec_name(c) for c in codecs]
    first = codecs[0]
    if names[0] != "bytes":
        raise TraceFormatError(f"expected the 'bytes' codec first, got {names[0]!r} (tftrace reads "
                               "bytes, then zstd or gzip, then crc32c)")
    config = first.get("configuration") or {}
    endian = config.get("endian", "little") if isinstance(config, dict) else None
    if endian not in ("little", "big") or (itemsize > 1 and "endian" not in config):
        raise TraceFormatError(f"expected a 'bytes' codec with endian little or big, got {first!r:.80}")
    rest = names[1:]
    crc = bool(rest) and rest[-1] == "crc32c"
    if crc:
        rest = rest[:-1]
    if len(rest) > 1 or (rest and rest[0] not in COMPRESSORS):
        unsupported = next((n for n in rest if n not in COMPRESSORS), rest[-1] if rest else "?")
        raise TraceFormatError(f"codec {unsupported!r} is not one tftrace reads (codecs {names}; "
                               "tftrace reads bytes, then zstd or gzip, then crc32c)")
    return CodecChain(endian=str(endian), compressor=rest[0] if rest else None, crc32c=crc)


def _codec_name(codec: Any) -> str:
    name = codec.get("name") if isinstance(codec, dict) else None
    if not isinstance(name, str):
        raise TraceFormatError(f"expected a codec map with a name, got {codec!r:.80}")
    return name


def decode(chain: CodecChain, data: bytes, nbytes: int) -> bytes | bytearray:
    """The ``nbytes`` raw bytes of a chunk, from its stored bytes.

    Raises :class:`TraceFormatError` when the data do not decode to exactly ``nbytes``
    bytes, without ever producing more than that.
    """
    if chain.crc32c:
        data = _strip_crc32c(data)
    if chain.compressor == "zstd":
        return zstd_decompress(data, nbytes)
    if chain.compressor == "gzip":
        return gzip_decompress(data, nbytes)
    if len(data) != nbytes:
        raise TraceFormatError(f"expected {nbytes} bytes, got {len(data)}")
    return data


def _strip_crc32c(data: bytes) -> bytes:
    import google_crc32c

    if len(data) < 4:
        raise TraceFormatError("expected a 4-byte crc32c checksum, got a shorter chunk")
    body, stored = data[:-4], struct.unpack("<I", data[-4:])[0]
    if google_crc32c.value(body) != stored:
        raise TraceFormatError("crc32c checksum mismatch")
    return body


def zstd_decompress(data: bytes, nbytes: int) -> bytearray:
    """Decompress zstd frames that must hold exactly ``nbytes`` bytes."""
    declared = zstd_content_size(data)
    if declared != _UNKNOWN and declared != nbytes:
        raise TraceFormatError(f"zstd data declare {declared} bytes, expected {nbytes}")
    out = bytearray(nbytes)
    if nbytes == 0:
        return out
    try:
        # With a known size equal to nbytes, or an unknown one, numcodecs decompresses into
        # ``out`` and fails rather than write past it.
        _zstd.decompress(data, out)
    except Exception as exc:
        raise TraceFormatError(f"zstd data do not decode to {nbytes} bytes: {exc}") from None
    return out


def zstd_content_size(data: bytes) -> int:
    """The total content size the zstd frames in ``data`` declare, or -1 if a frame does
    not say; raises :class:`TraceFormatError` on anything that is not zstd frames."""
    view = memoryview(data)
    total, pos = 0, 0
    known = True
    if not data:
        raise TraceFormatError("expected zstd data, got an empty chunk")
    while pos < len(view):
        if pos + 4 > len(view):
            raise TraceFormatError("truncated zstd frame")
        magic = struct.unpack_from("<I", view, pos)[0]
        if magic & _SKIPPABLE_MASK == _SKIPPABLE:
            if pos + 8 > len(view):
                raise TraceFormatError("truncated zstd skippable frame")
            pos += 8 + struct.unpack_from("<I", view, pos + 4)[0]
            continue
        if magic != _ZSTD_MAGIC:
            raise TraceFormatError(f"expected a zstd frame, got magic number 0x{magic:08x}")
        size, pos = _zstd_frame(view, pos + 4)
        if size == _UNKNOWN:
            known = False
        else:
            total += size
    if pos > len(view):
        raise TraceFormatError("truncated zstd frame")
    return total if known else _UNKNOWN


def _zstd_frame(view: memoryview, pos: int) -> tuple[int, int]:
    """(declared content size or -1, position after the frame) of the frame header at ``pos``."""
    if pos >= len(view):
        raise TraceFormatError("truncated zstd frame header")
    descriptor = view[pos]
    fcs_flag, single, checksum, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, (descriptor >> 2) & 1, descriptor & 3
    if descriptor & 0x08:
        raise TraceFormatError("zstd frame header has its reserved bit set")
    pos += 1 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    fcs_bytes = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if pos + fcs_bytes > len(view):
        raise TraceFormatError("truncated zstd frame header")
    size = _UNKNOWN
    if fcs_bytes:
        size = int.from_bytes(view[pos:pos + fcs_bytes], "little") + (256 if fcs_bytes == 2 else 0)
    pos += fcs_bytes
    while True:  # walk the blocks to find where the frame ends
        if pos + 3 > len(view):
            raise TraceFormatError("truncated zstd block")
        header = int.from_bytes(view[pos:pos + 3], "little")
        last, block_type, block_size = header & 1, (header >> 1) & 3, header >> 3
        if block_type == 3:
            raise TraceFormatError("zstd block of the reserved type")
        pos += 3 + (1 if block_type == 1 else block_size)
        if last:
            break
    return size, pos + (4 if checksum else 0)


def gzip_decompress(data: bytes, nbytes: int) -> bytes:
    """Decompress one gzip member that must hold exactly ``nbytes`` bytes."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, nbytes + 1)  # stops one byte past the size
    except zlib.error as exc:
        raise TraceFormatError(f"gzip data do not decode: {exc}") from None
    if len(out) != nbytes or not decompressor.eof or decompressor.unused_data:
        raise TraceFormatError(f"gzip data do not decode to exactly {nbytes} bytes")
    return out


def as_values(raw: bytes | bytearray, dtype: np.dtype, endian: str) -> np.ndarray:
    """The decoded bytes of a chunk as a flat array of ``dtype`` (native byte order)."""
    stored = dtype.newbyteorder("<" if endian == "little" else ">")
    values = np.frombuffer(raw, dtype=stored)
    return values if stored.isnative or dtype.itemsize == 1 else values.astype(dtype)
