"""The event records of a trace's log, as stored: what two ways of writing the same events
must give byte for byte (their time excepted)."""

from __future__ import annotations

from pathlib import Path

import msgpack

#: The key "t" and a float64's marker, in every event record.
TIME = b"\xa1t\xcb"


def event_records(path: Path) -> list[bytes]:
    """The event records of the trace at ``path``, in order, their time's 8 bytes zeroed."""
    out = []
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        data = segment.read_bytes()
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data)
        start = 0
        for record in unpacker:
            raw, start = data[start:unpacker.tell()], unpacker.tell()
            if record.get("type") == "event":
                at = raw.index(TIME) + len(TIME)
                out.append(raw[:at] + bytes(8) + raw[at + 8:])
    return out
