"""The store under a trace (directory and zip), packing, and chunked array I/O."""

from __future__ import annotations

import numpy as np
import pytest

from tftrace.errors import TraceExistsError, UsageError
from tftrace.format import chunkio, store
from tftrace.format.pack import pack_trace
from tftrace.format.reader import open_trace
from tftrace.format.writer import TraceWriter


@pytest.fixture
def directory_trace(tmp_path):
    path = tmp_path / "t.zarr"
    with TraceWriter.create(path) as writer:
        writer.add_event("endpoint", "x", value=np.arange(12, dtype=np.float32).reshape(3, 4))
        writer.add_event("endpoint", "empty", value=np.zeros((0, 2), np.float32))
    return path


def test_read_store_reads_the_same_keys_from_a_directory_and_its_zip(directory_trace, tmp_path) -> None:
    packed = pack_trace(directory_trace, tmp_path / "t.zarr.zip")
    directory, zipped = store.ReadStore(directory_trace), store.ReadStore(packed)
    try:
        keys = sorted(directory.keys())
        assert keys == sorted(zipped.keys()) and "zarr.json" in keys and "log/0" in keys
        for key in keys:
            assert directory.get(key, 1 << 20) == zipped.get(key, 1 << 20), key
            assert directory.size(key) == zipped.size(key)
        assert directory.get("no/such/key", 100) is None and zipped.size("no/such/key") is None
    finally:
        directory.close()
        zipped.close()
    with open_trace(packed) as trace:
        np.testing.assert_array_equal(trace.array("x"), np.arange(12, dtype=np.float32).reshape(3, 4))
        assert trace.array("empty").shape == (0, 2)


def test_pack_refuses_a_wrong_name_and_an_existing_output(directory_trace, tmp_path) -> None:
    with pytest.raises(UsageError, match="must end with .zarr.zip"):
        pack_trace(directory_trace, tmp_path / "t.tar")
    out = pack_trace(directory_trace, tmp_path / "a.zarr.zip")
    with pytest.raises(TraceExistsError):
        pack_trace(directory_trace, out)
    assert pack_trace(directory_trace, out, overwrite=True) == out


def test_chunk_layout_covers_every_element_once() -> None:
    layout = chunkio.layout_of((5, 7), (2, 7))
    assert layout is not None
    covered = sorted((start, start + count) for _, start, count in layout.ranges())
    assert covered[0][0] == 0 and covered[-1][1] == 35
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))  # contiguous, no overlap
    assert [key for key, _, _ in layout.ranges()] == ["c.0.0", "c.1.0", "c.2.0"]
    assert chunkio.should_compress(np.zeros(4096, np.float32))  # zeros compress
