"""Values stored as they arrive (``TraceWriter.stage``), their events logged later.

A staged value's record is the record of the same value given whole (same bytes, same
pack bytes), its digest and statistics those of a version-5 array; values staged from
several threads in any order are logged in program order and read back exactly; a staged
value whose event is never written leaves bytes no event refers to, and nothing else.
"""

from __future__ import annotations

import threading
from pathlib import Path

import msgpack
import numpy as np
import pytest

import tftrace
from tftrace.errors import UsageError
from tftrace.format.events import OpAttrs
from tftrace.format.packing import pack
from tftrace.format.writer import TraceWriter
from tftrace.lint.checks import check
from tests.format.test_packs import VALUES

OP = OpAttrs(op_type="Relu", layer="net/relu", name_scope="net", inputs=(-1,), mode="function")


def _records(path: Path) -> list[dict]:
    out = []
    for segment in sorted((path / "log").iterdir(), key=lambda p: int(p.name)):
        out += [r for r in msgpack.Unpacker(open(segment, "rb"), raw=False) if r.get("type") == "event"]
    return [{**r, "t": 0.0} for r in out]


def _write(path: Path, staged: bool, values: dict[str, np.ndarray]) -> None:
    with TraceWriter.create(path) as w:
        for k, (name, value) in enumerate(values.items()):
            event = w.prepare("op", name, OP)
            given = w.stage("op", value) if staged else value
            assert staged is False or given is not None
            w.add_prepared(event, 0, given, [k - 1], keep_value=True)


def test_a_staged_value_is_logged_as_the_value_given_whole(tmp_path: Path) -> None:
    _write(tmp_path / "whole.zarr", False, VALUES)
    _write(tmp_path / "staged.zarr", True, VALUES)
    whole, staged = _records(tmp_path / "whole.zarr"), _records(tmp_path / "staged.zarr")
    assert len(staged) == len(VALUES) and all("pack" in r for r in staged)
    assert [pack(r, "r") for r in staged] == [pack(r, "r") for r in whole]  # NaN-safe: as bytes
    pack_bytes = (tmp_path / "staged.zarr" / "packs" / "1" / "c.0").read_bytes()
    assert pack_bytes == (tmp_path / "whole.zarr" / "packs" / "1" / "c.0").read_bytes()
    # negative control: another value changes the record
    _write(tmp_path / "other.zarr", True, {**VALUES, "relu": VALUES["relu"] * 2})
    assert [pack(r, "r") for r in _records(tmp_path / "other.zarr")] != [pack(r, "r") for r in staged]
    # digests and statistics: those of a version-5 trace (an array each) of the same values
    with TraceWriter.create(tmp_path / "v5.zarr", late_values=True) as w:
        for name, value in VALUES.items():
            w.add_event("op", name, value=value, attrs=OP, keep_value=True)
    with tftrace.open(tmp_path / "staged.zarr") as a, tftrace.open(tmp_path / "v5.zarr") as b:
        assert b.format_version == 5 and a.format_version == 6
        assert [e.digest for e in a.events] == [e.digest for e in b.events]
        assert [e.stats for e in a.events] == [e.stats for e in b.events]
        for ev in a.events:
            np.testing.assert_array_equal(a.array(ev), VALUES[ev.name])


def test_values_staged_by_threads_in_any_order_are_logged_in_program_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = [np.maximum(rng.standard_normal((64, 64)), 0).astype(np.float32) * (k % 3) for k in range(48)]
    staged: dict[int, object] = {}
    path = tmp_path / "t.zarr"
    with TraceWriter.create(path) as w:
        def stage(indices: list[int]) -> None:
            for k in indices:
                staged[k] = w.stage("op", values[k])
        threads = [threading.Thread(target=stage, args=(list(range(48))[part::4][::-1],)) for part in range(4)]
        for t in threads:
            t.start()
        w.flush()  # a segment written while values arrive: their pack closes, they go to the next
        for t in threads:
            t.join()
        for k in range(48):
            w.add_event("op", f"v{k}", value=staged[k], keep_value=True)
    with tftrace.open(path) as trace:
        events = trace.events
        assert [e.name for e in events] == [f"v{k}" for k in range(48)]
        for k, ev in enumerate(events):
            np.testing.assert_array_equal(trace.array(ev), values[k])
        assert trace.complete


def test_a_staged_value_never_logged_leaves_only_unreferenced_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.zarr"
    with TraceWriter.create(path) as w:
        noise = np.random.default_rng(0).standard_normal(100).astype(np.float32)  # stored raw
        w.stage("op", noise)  # its event is never written
        w.add_event("op", "b", value=w.stage("op", np.ones(10, np.float32)), keep_value=True)
        other = TraceWriter.create(tmp_path / "u.zarr")
        with pytest.raises(UsageError, match="staged by another trace writer"):
            other.add_event("op", "c", value=w.stage("op", np.ones(3, np.float32)))
        other.close()
        for value in (np.array(["a"], dtype=object), np.zeros(0, np.float32)):
            assert w.stage("op", value) is None  # not packed: given whole
        assert w.stage("endpoint", np.ones(3)) is None
    assert w.stage("op", np.ones(3)) is None  # closed
    with tftrace.open(path) as trace:
        (ev,) = trace.events
        assert ev.packed.offset == 400 and trace.complete
        np.testing.assert_array_equal(trace.array(ev), np.ones(10, np.float32))
    assert not (tmp_path / "t.zarr" / "packs" / "2").exists()  # nothing staged after the end
    assert check(path).ok


def test_values_staged_faster_than_logged_fill_several_packs_and_one_segment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tftrace.format import value_packs, writer as writer_module

    monkeypatch.setattr(value_packs, "PACK_BYTES", 1000)  # a pack closes once it holds 1000 bytes
    monkeypatch.setattr(writer_module, "PACK_BYTES", 1000)
    values = [np.random.default_rng(k).standard_normal(100).astype(np.float32) for k in range(9)]
    path = tmp_path / "t.zarr"
    with TraceWriter.create(path) as w:
        staged = [w.stage("op", v) for v in values]  # 400 bytes each: three to a pack, the last full
        segments = len(list((path / "log").iterdir()))
        for k, value in enumerate(staged):
            w.add_event("op", f"v{k}", value=value, keep_value=True)
        # one segment for the nine (the full pack closes it once, not after every event)
        assert len(list((path / "log").iterdir())) <= segments + 1
    with tftrace.open(path) as trace:
        assert [e.array_key for e in trace.events] == ["packs/1"] * 3 + ["packs/2"] * 3 + ["packs/3"] * 3
        for k, ev in enumerate(trace.events):
            np.testing.assert_array_equal(trace.array(ev), values[k])
    assert check(path).ok
