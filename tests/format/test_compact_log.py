"""Format version 5, the compact log of recordings against a trace: deflated segments and
event records without what the reader rebuilds (seq, stats.size, zero counts, the digest
from its pieces' CRCs). Every event still reads back with its statistics and digest,
exactly as the plain log of version 3 or 4 gives them; version-4 traces still read."""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest

import tftrace
from tftrace.errors import TraceFormatError
from tftrace.format import compact_log
from tftrace.format.digest import digest as full_digest
from tftrace.format.writer import TraceWriter

VALUES = {
    "a": np.arange(12, dtype=np.float32).reshape(3, 4),
    "nan": np.array([np.nan, 1.0, np.inf], np.float64),
    "b": np.array([True, False]),
    "s": np.array([b"x", b"yz"], dtype=object),
    "empty": np.zeros((0, 3), np.float32),
    "scalar": np.int64(7),
}


def write(path: Path, late_values: bool) -> list:
    with TraceWriter.create(path, capture="stats", late_values=late_values) as writer:
        events = [writer.add_event("endpoint", name, step=k // 2, value=value)
                  for k, (name, value) in enumerate(VALUES.items())]
        events.append(writer.add_event("endpoint", "a", step=0, value=VALUES["a"]))  # occurrence 1
        if late_values:
            writer.add_value(events[0], VALUES["a"])
    return events


def segments(path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((path / "log").iterdir(), key=lambda p: int(p.name))]


def records(data: bytes) -> list[dict]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return list(unpacker)


def as_version_4(path: Path) -> None:
    """Rewrite a version-5 trace as version 4 wrote it: plain segments, full event records."""
    count = 0
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        plain = []
        for record in records(zlib.decompress(segment.read_bytes())):
            if record.get("type") == "event":
                record = compact_log.expand_event(record, count)
                count += 1
            plain.append(msgpack.packb(record, use_bin_type=True))
        segment.write_bytes(b"".join(plain))
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["tftrace"]["format_version"] = 4
    (path / "zarr.json").write_text(json.dumps(meta))


def test_the_compact_log_reads_back_every_field(tmp_path: Path) -> None:
    compact, plain = tmp_path / "c.zarr", tmp_path / "p.zarr"
    written = write(compact, late_values=True)
    write(plain, late_values=False)
    a, b = tftrace.open(compact), tftrace.open(plain)
    assert (a.format_version, b.format_version) == (5, 6)
    assert len(a.events) == len(b.events) == len(VALUES) + 1
    for got, other, event in zip(a.events, b.events, written):
        # the digest string, rebuilt from the CRCs, is the one computed from the values
        assert got.digest == other.digest == event.digest, got.name
        assert dataclasses.replace(got, time=0.0, array_key=None) == \
            dataclasses.replace(event, time=0.0), got.name
    assert a.events[0].digest == full_digest(VALUES["a"], "float32", (3, 4))
    assert a.events[1].stats.nan_count == 1 and a.events[1].stats.inf_count == 1
    assert a.events[-1].occurrence == 1 and a.events[-2].step == 2
    np.testing.assert_array_equal(a.array(a.events[0]), VALUES["a"])
    # a deflated log, and no seq or digest string for the CRC-tree digests in it
    logged = [r for s in segments(compact) for r in records(zlib.decompress(s)) if r["type"] == "event"]
    assert not any("seq" in r for r in logged)
    # the digest as CRCs, but for the empty array (no piece to take a CRC of)
    assert [r["name"] for r in logged if "digest" in r] == ["empty"]
    plain_logged = [r for s in segments(plain) for r in records(s) if r["type"] == "event"]
    assert all("seq" in r for r in plain_logged)  # the negative control: version 3 keeps them


def test_a_version_4_trace_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    written = write(path, late_values=True)
    as_version_4(path)
    trace = tftrace.open(path)
    assert trace.format_version == 4 and trace.complete
    assert [e.digest for e in trace.events] == [e.digest for e in written]
    assert trace.events[0].stored
    np.testing.assert_array_equal(trace.array("a"), VALUES["a"])


@pytest.mark.parametrize("record, match", [
    pytest.param({"seq": 0}, "has no seq", id="seq"),
    pytest.param({"crc": b"abc"}, "crc: expected 4 to 32 bytes", id="crc-length"),
    pytest.param({"crc": "abcd"}, "crc: expected 4 to 32 bytes", id="crc-type"),
    pytest.param({"stats": {"size": 3, "min": 0.0, "max": 1.0, "mean": 0.5}}, "hold no size", id="size"),
])
def test_a_bad_compact_record_is_a_format_error(tmp_path: Path, record: dict, match: str) -> None:
    writer = TraceWriter.create(tmp_path / "t.zarr", capture="stats", late_values=True)
    writer._append({"type": "event", "kind": "endpoint", "name": "x", "t": 0.0, "shape": [2],
                    "dtype": "float32", **record})
    writer.close()
    with pytest.raises(TraceFormatError, match=match):
        tftrace.open(tmp_path / "t.zarr")


@pytest.mark.parametrize("damage", ["cut", "garbage", "trailing"])
def test_a_damaged_deflated_segment_is_a_format_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "t.zarr"
    write(path, late_values=True)
    last = max((path / "log").iterdir(), key=lambda p: int(p.name))
    data = last.read_bytes()
    last.write_bytes({"cut": data[:len(data) // 2], "garbage": b"\x78\x9c" + bytes(range(200)),
                      "trailing": data + b"x"}[damage])
    with pytest.raises(TraceFormatError, match="log segment"):
        tftrace.open(path)


def test_a_deflate_bomb_is_refused_with_bounded_memory(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t.zarr"
    write(path, late_values=True)
    monkeypatch.setattr("tftrace.format.limits.MAX_SEGMENT_BYTES", 1 << 20)
    bomb = zlib.compress(msgpack.packb({"type": "environment", "environment": {"x": "a" * (4 << 20)}}), 9)
    (path / "log" / "1").write_bytes(bomb)  # 4 MiB of record from a few kB
    with pytest.raises(TraceFormatError, match="inflates to more than|larger than"):
        tftrace.open(path)


KILLED_WRITER = """
import sys, time
import numpy as np
from tftrace.format.writer import TraceWriter
writer = TraceWriter.create(sys.argv[1], capture="stats", late_values=True)
for k in range(40):
    writer.add_event("endpoint", "x", step=k, value=np.full(5, k, np.float32))
writer.flush()
print("flushed", flush=True)
for k in range(40, 80):  # logged in memory, not flushed: lost with the process
    writer.add_event("endpoint", "x", step=k, value=np.full(5, k, np.float32))
time.sleep(60)
"""


def test_a_killed_compact_recording_keeps_every_flushed_event(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    path = tmp_path / "killed.zarr"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "flushed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    trace = tftrace.open(path)
    assert trace.format_version == 5 and not trace.complete
    events = trace.events
    assert [e.step for e in events] == list(range(40))
    for event in events:  # statistics and digest as a plain log would give them
        value = np.full(5, event.step, np.float32)
        assert event.stats.size == 5 and event.stats.mean == float(event.step)
        assert event.digest == full_digest(value, "float32", (5,))
