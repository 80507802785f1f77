"""The events of a ``tf.function``'s statistics vector written by batches (recording/
batching.py) are the records the per-event path writes: byte for byte but for their
time, with the same seqs, occurrences, order and input edges; the unusual cases (a NaN
or an Inf, the reductions, an op filter, a write error) keep working.

The reference is the per-event path itself (``batching.BATCHED`` off): each value's
summary to its observation's ``on_value``, as before batching existed."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import tftrace  # noqa: E402
from tftrace.errors import TraceWriteError  # noqa: E402
from tftrace.format import store, writer as writer_module  # noqa: E402
from tftrace.format.reader import open_trace  # noqa: E402
from tftrace.recording import batching, statistics_kernel  # noqa: E402
from tests.capture.kernel_helpers import require_kernel  # noqa: E402
from tests.format.log_records import event_records  # noqa: E402

STEPS = 3


def train(path: Path, twice: bool = False, **levels: Any) -> None:
    """A small Keras model's training step in a ``tf.function`` (run twice per step with
    ``twice``: occurrences 0 and 1), recorded with layers, ops and gradients at stats."""
    keras.backend.clear_session()  # the same op names in every recording
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    model = keras.Model(inputs, keras.layers.Dense(5, name="dense")(h))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32))
    y = tf.constant(np.arange(4) % 5)

    @tf.function
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    with tftrace.record(path, seed_mode="off", **{"layers": "stats", "ops": "stats", "gradients": "stats",
                                                  "optimizer": "off", **levels}) as rec:
        for _ in range(STEPS):
            step(x, y)
            if twice:
                step(x, y)
            rec.next_step()


def read_back(path: Path) -> list[dict[str, Any]]:
    """Each event as read, field by field (its time left out)."""
    return [{**e.to_dict(), "t": None} for e in open_trace(path).events]


@pytest.fixture
def spliced(monkeypatch) -> list[str]:
    """The names of the events written by batches (``TraceWriter.add_prepared_batch``)."""
    names: list[str] = []
    splice = writer_module.spliced_records
    monkeypatch.setattr(writer_module, "spliced_records",
                        lambda events, *args: names.extend(e.name for e in events) or splice(events, *args))
    return names


def per_event(monkeypatch: pytest.MonkeyPatch, path: Path, **kwargs: Any) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(batching, "BATCHED", False)
        train(path, **kwargs)


@pytest.mark.parametrize("twice", [False, True], ids=["once-per-step", "twice-per-step"])
def test_batches_write_the_records_of_the_per_event_path(tmp_path, monkeypatch, spliced, twice) -> None:
    require_kernel()
    train(tmp_path / "batched.zarr", twice=twice)
    batched_names = list(spliced)
    per_event(monkeypatch, tmp_path / "per_event.zarr", twice=twice)
    assert len(spliced) == len(batched_names)  # the per-event path wrote no batch
    batched, reference = event_records(tmp_path / "batched.zarr"), event_records(tmp_path / "per_event.zarr")
    events = open_trace(tmp_path / "per_event.zarr").events
    kinds = {e.kind for e in events}
    assert {"layer", "op", "gradient"} <= kinds, kinds
    executions = STEPS * (2 if twice else 1)
    ops = [e for e in events if e.kind == "op"]
    # the first execution writes each event on its own (preparing it), every other one
    # writes its op events by batches: the layers and gradients stay on their own
    assert len(batched_names) == len(ops) * (executions - 1) // executions > 0
    assert {n for n in batched_names} == {e.name for e in ops}
    if twice:  # each op event twice per step: occurrences 0 then 1
        assert sorted({e.occurrence for e in ops}) == [0, 1]
    # the op events' edges point at earlier events of the same execution, or -1
    assert any(seq >= 0 for e in ops for seq in e.attrs["inputs"])
    assert len(batched) == len(reference) == len(events)
    assert batched == reference
    assert read_back(tmp_path / "batched.zarr") == read_back(tmp_path / "per_event.zarr")


def test_a_wrong_seq_or_edge_is_caught(tmp_path, monkeypatch) -> None:
    # Negative control of the comparison above: batches made to give each input produced
    # in their run the next event's seq, and a record's seq changed by one.
    require_kernel()
    per_event(monkeypatch, tmp_path / "per_event.zarr")
    values = batching._Run.values
    with monkeypatch.context() as patch:
        patch.setattr(batching._Run, "values", lambda self, seq: values(self, seq + 1))
        train(tmp_path / "shifted.zarr")
    reference = event_records(tmp_path / "per_event.zarr")
    shifted = event_records(tmp_path / "shifted.zarr")
    assert len(shifted) == len(reference) and shifted != reference
    got, want = read_back(tmp_path / "shifted.zarr"), read_back(tmp_path / "per_event.zarr")
    assert [e["seq"] for e in got] == [e["seq"] for e in want]
    assert [e["attrs"].get("inputs") for e in got] != [e["attrs"].get("inputs") for e in want]
    renumbered = [*reference]
    k = len(renumbered) - 1
    renumbered[k] = msgpack.packb({**msgpack.unpackb(renumbered[k]), "seq": k + 1})
    assert event_records(tmp_path / "per_event.zarr") != renumbered


def program(path: Path, **levels: Any) -> None:
    """``log`` of inputs that hold a zero and a negative number at step 1 only: its
    output and the products after it hold -Inf and NaN there."""
    w = tf.Variable(np.array([1.0, 2.0, 3.0], np.float32))

    @tf.function
    def f(x: Any) -> Any:
        return tf.math.log(x * w) * 2.0 + 1.0

    with tftrace.record(path, seed_mode="off", layers="off", ops="stats", gradients="off", optimizer="off",
                        **levels) as rec:
        for step in range(STEPS):
            f(tf.constant([0.0, -1.0, 4.0] if step == 1 else [1.0, 2.0, 4.0], tf.float32))
            rec.next_step()


@pytest.mark.parametrize("path", ["kernel", "reductions"])
def test_nan_and_inf_and_the_reductions_take_the_per_event_path(tmp_path, monkeypatch, spliced, path) -> None:
    if path == "kernel":
        require_kernel()
    else:
        monkeypatch.setenv(statistics_kernel.SWITCH_VARIABLE, "off")
    program(tmp_path / "batched.zarr")
    batched_names = list(spliced)
    per_event_path = tmp_path / "per_event.zarr"
    with monkeypatch.context() as patch:
        patch.setattr(batching, "BATCHED", False)
        program(per_event_path)
    assert event_records(tmp_path / "batched.zarr") == event_records(per_event_path)
    events = open_trace(per_event_path).events
    assert [e.name for e in events] == ["mul:0", "Log:0", "mul_1:0", "add:0"] * STEPS
    # numpy's on the same values: at step 1 log(0) is -Inf, log(-2) NaN (min over what is not NaN)
    log = events[5]
    assert (log.step, log.stats.nan_count, log.stats.inf_count) == (1, 1, 1)
    assert log.stats.min == -np.inf and log.stats.max == pytest.approx(float(np.log(np.float32(12.0))))
    # the kernel: step 2 by a batch (step 0 prepared the events, step 1 held NaN and Inf);
    # the reductions never
    assert batched_names == (["mul:0", "Log:0", "mul_1:0", "add:0"] if path == "kernel" else [])


def test_an_op_filter_keeps_the_edges_of_the_per_event_path(tmp_path, monkeypatch, spliced) -> None:
    # Ops left out by the filter are no event: the edges to them are -1, in both paths.
    require_kernel()
    levels = {"layers": "off", "gradients": "off", "op_types": ("Conv2D*", "Relu*", "FusedBatchNorm*", "Mean")}
    train(tmp_path / "batched.zarr", **levels)
    assert spliced
    per_event(monkeypatch, tmp_path / "per_event.zarr", **levels)
    assert event_records(tmp_path / "batched.zarr") == event_records(tmp_path / "per_event.zarr")
    events = [e for e in open_trace(tmp_path / "per_event.zarr").events if e.kind == "op"]
    types = {e.attrs["op_type"] for e in events}
    assert types and all(t.startswith(("Conv2D", "Relu", "FusedBatchNorm")) or t == "Mean" for t in types)
    inputs = [seq for e in events for seq in e.attrs["inputs"]]
    assert -1 in inputs and any(seq >= 0 for seq in inputs)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "per-event"])
def test_a_write_error_mid_run_stops_the_recording(tmp_path, monkeypatch, spliced, batched) -> None:
    # A segment every 60 events, the third log segment cannot be written (a full disk):
    # the block ends with the error, and the trace holds the events logged before it
    # (those of the failed segment written when the trace is closed), as recorded
    # without the error. Batched, the error comes from the flush after a batch (step 1's).
    require_kernel()
    levels = {"layers": "off", "gradients": "off"}
    train(tmp_path / "whole.zarr", **levels)
    whole = read_back(tmp_path / "whole.zarr")
    write_atomic, segments = store.write_atomic, []

    def full_disk(path: Path, data: bytes) -> None:
        if Path(path).parent.name == "log":
            segments.append(path)
            if len(segments) == 3:  # the environment's, then the first 60 events'
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write_atomic(path, data)

    monkeypatch.setattr(writer_module, "FLUSH_RECORDS", 60)
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 1e9)
    monkeypatch.setattr(store, "write_atomic", full_disk)
    monkeypatch.setattr(batching, "BATCHED", batched)
    del spliced[:]
    with pytest.raises(TraceWriteError, match="cannot write the trace"):
        train(tmp_path / "t.zarr", **levels)
    assert bool(spliced) == batched
    trace = open_trace(tmp_path / "t.zarr")
    assert trace.status.status == "raised"
    got = read_back(tmp_path / "t.zarr")
    assert 60 <= len(got) <= len(whole) - 92  # step 2's execution not recorded
    assert got == whole[:len(got)]
