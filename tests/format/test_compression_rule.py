"""Which values the writer compresses: zstd only where a value's sample shrinks by at least
half (``chunkio.MIN_SAVING``), in a pack and in an array; every value reads back bit for bit.

The values are built so that their compressed size is known without zstd's help: uniform
random bytes do not compress, a long run of zeros compresses to almost nothing, so a value
made of 1 KiB blocks, each a fraction ``p`` zeros then random bytes, shrinks by about ``p``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tftrace
from tftrace.format import chunkio
from tftrace.format.writer import TraceWriter

_BLOCK = 1024


def _zeros_then_noise(fraction: float, nbytes: int, seed: int = 0) -> np.ndarray:
    """uint32 values of ``nbytes``: in each 1 KiB block, ``fraction`` of it zeros, then noise."""
    data = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).reshape(-1, _BLOCK)
    data[:, :int(fraction * _BLOCK)] = 0
    return data.reshape(-1).view(np.uint32).copy()


#: (id, value, compressed): a third zeros is the ReLU-like case, under half its size saved.
CASES = [
    ("zeros", np.zeros(1 << 16, np.float32), True),
    ("noise", _zeros_then_noise(0.0, 256 << 10), False),
    ("a-third-zeros", _zeros_then_noise(0.3, 256 << 10), False),
    ("seven-tenths-zeros", _zeros_then_noise(0.7, 256 << 10), True),
    ("small-zeros", np.zeros(2000, np.float32), True),  # compressed whole: no sample
    ("tiny-zeros", np.zeros(1000, np.float32), False),  # under 4 KiB: raw, untried
    ("small-a-third-zeros", _zeros_then_noise(0.3, 32 << 10), False),
    ("small-seven-tenths-zeros", _zeros_then_noise(0.7, 32 << 10), True),
]


@pytest.mark.parametrize("name,value,compressed", CASES, ids=[c[0] for c in CASES])
def test_a_value_is_compressed_only_when_it_shrinks_by_half(tmp_path: Path, name: str,
                                                             value: np.ndarray, compressed: bool) -> None:
    path = tmp_path / "t.zarr"
    with TraceWriter.create(path) as w:
        w.add_event("op", name, value=w.stage("op", value), keep_value=True)  # packed
        w.add_event("snapshot", name, value=value)  # an array of its own
    with tftrace.open(path) as trace:
        op, snapshot = trace.events
        assert op.packed is not None and op.packed.codec == ("zstd" if compressed else "raw")
        meta = json.loads((path / str(snapshot.array_key) / "zarr.json").read_bytes())
        assert [c["name"] for c in meta["codecs"]] == (["bytes", "zstd"] if compressed else ["bytes"])
        for ev in (op, snapshot):  # bit for bit
            assert trace.array(ev).tobytes() == value.tobytes()
        if compressed:
            assert op.packed.length <= value.nbytes // 2
        else:
            assert op.packed.length == value.nbytes


def test_the_threshold_is_what_keeps_a_third_zeros_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: under the former 10% rule the ReLU-like value was compressed, so the
    checks above tell the two rules apart."""
    third = np.ascontiguousarray(_zeros_then_noise(0.3, 256 << 10))
    small = np.ascontiguousarray(_zeros_then_noise(0.3, 32 << 10))
    assert chunkio.compressed_if_worth(third) is None and chunkio.compressed_if_worth(small) is None
    monkeypatch.setattr(chunkio, "MIN_SAVING", 0.10)
    assert chunkio.compressed_if_worth(third) is not None and chunkio.compressed_if_worth(small) is not None
    assert chunkio.should_compress(third)
