"""Issue 14's port from the command line: a TF1 model trained with a TF1 optimizer in a
Session against the same model function through the ``track_tf1_style_variables`` shim,
trained with a Keras optimizer in a ``tf.function`` under replay of A (port_model.py).

The plain ``tftrace diff A B`` (no options) passes the correct port and fails each planted
fault at the right place; optimizer state pairs by role across the families.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.compare import port_model as pm
import tftrace
from tftrace.cli import cli


@pytest.fixture(scope="module")
def adam_a(tmp_path_factory: pytest.TempPathFactory) -> str:
    return pm.record_a(tmp_path_factory.mktemp("adam") / "a.zarr")


@pytest.fixture(scope="module")
def momentum_a(tmp_path_factory: pytest.TempPathFactory) -> str:
    return pm.record_a(tmp_path_factory.mktemp("momentum") / "a.zarr", optimizer="momentum",
                       constant_lr=True)


def plain_diff(a: str, b: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["diff", a, b])
    return result.exit_code, result.output


def state_summary(result: tftrace.DiffResult) -> dict[str, int]:  # type: ignore[name-defined]
    return next(s for s in result.summary if s.kind == "optimizer_state").to_dict()


@pytest.mark.parametrize("keras", ["tf_keras", "keras3"], ids=["tf-keras", "keras3"])
def test_correct_adam_port_is_equivalent_with_no_options(adam_a, tmp_path, keras):
    b = pm.record_b(tmp_path / "b.zarr", adam_a, keras=keras)
    code, output = plain_diff(adam_a, b)
    assert code == 0, output
    assert "tftrace diff: EQUIVALENT" in output
    result = tftrace.diff(adam_a, b)
    state = state_summary(result)
    # 5 trainable variables x (m, v) x (initial + 5 snapshots), plus the step count and
    # the two beta powers (each against Keras' iteration) at the same 6 moments.
    assert state["compared"] == 5 * 2 * 6 + 3 * 6
    assert state["diverged"] == state["missing"] == state["extra"] == 0
    pairs = {(p.name, p.step): p for p in result.pairs
             if p.kind == "optimizer_state" and p.status != "skipped"}
    # beta1_power after k + 1 updates = 0.9 ** (k + 2), compared with Keras' step count.
    power = pairs[("beta1_power:0", 4)]
    assert power.name_b in ("iteration:0", "adam/iteration")
    assert power.status in ("equal", "close")
    assert pairs[("net/conv1/kernel/Adam:0", 4)].name_b in (
        "m/net/conv1/kernel:0", "adam/net_conv1_kernel_0_momentum")
    # tf-keras keeps the learning rate as a variable, TF1 does not: said, not compared.
    skipped = [p for p in result.pairs if p.kind == "optimizer_state" and p.status == "skipped"]
    assert all("learning_rate of the" in p.message for p in skipped)
    assert len(skipped) == (6 if keras == "tf_keras" else 0)


PLANTED = [
    # (planted fault, kind, name, step of the first divergence)
    ({"bn_epsilon": 1e-5}, "endpoint", "logits", 0),         # the forward pass at once
    ({"lr_once": True}, "snapshot", "net/conv1/kernel:0", 1),  # the rate decays from step 1
    ({"adam_epsilon": 1e-7}, "snapshot", "net/conv1/kernel:0", 0),  # the first update
]


@pytest.mark.parametrize("planted,kind,name,step", PLANTED,
                         ids=["bn-epsilon", "learning-rate-once", "adam-epsilon"])
def test_each_planted_fault_fails_with_the_right_first_divergence(adam_a, tmp_path, planted,
                                                                   kind, name, step):
    b = pm.record_b(tmp_path / "b.zarr", adam_a, **planted)
    code, output = plain_diff(adam_a, b)
    assert code == 1, output
    first = tftrace.diff(adam_a, b).first_divergence
    assert (first.kind, first.name, first.step, first.problem) == (kind, name, step, "values")


def test_keras3_adam_epsilon_fails_at_the_first_update(adam_a, tmp_path):
    b = pm.record_b(tmp_path / "b.zarr", adam_a, keras="keras3", adam_epsilon=1e-7)
    first = tftrace.diff(adam_a, b).first_divergence
    assert (first.kind, first.name, first.step) == ("snapshot", "net/conv1/kernel:0", 0)


def test_tf1_momentum_against_keras3_sgd_momentum(momentum_a, tmp_path):
    """Keras keeps momentum as -lr x TF1's accumulator: compared after conversion."""
    b = pm.record_b(tmp_path / "b.zarr", momentum_a, optimizer="momentum", keras="keras3",
                    constant_lr=True)
    code, output = plain_diff(momentum_a, b)
    assert code == 0, output
    result = tftrace.diff(momentum_a, b)
    slots = [p for p in result.pairs if p.kind == "optimizer_state" and p.name.endswith("/Momentum:0")]
    assert len(slots) == 5 * 6 and {p.status for p in slots} <= {"equal", "close"}
    assert {p.name_b for p in slots if p.name.startswith("net/conv1/kernel/")} == {
        "sgd/net_conv1_kernel_0_momentum"}
    # Compared after conversion: the raw values differ by the factor -lr (0.01).
    trace_a, trace_b = tftrace.open(momentum_a), tftrace.open(b)
    last = next(p for p in slots if p.name == "net/logits/kernel/Momentum:0" and p.step == 4)
    raw_a = trace_a.array(trace_a.events[last.seq_a])
    raw_b = trace_b.array(trace_b.events[last.seq_b])
    assert abs(raw_b + pm.BASE_LR * raw_a).max() <= 1e-6 * abs(raw_a).max()
    assert abs(raw_b - raw_a).max() > 0.1 * abs(raw_a).max()


def test_momentum_conversion_can_fail(momentum_a, tmp_path):
    """Negative control: under a decaying rate Keras' SGD and TF1's Momentum are different
    algorithms; the converted state and the weights diverge."""
    a = pm.record_a(tmp_path / "a.zarr", optimizer="momentum")
    b = pm.record_b(tmp_path / "b.zarr", a, optimizer="momentum", keras="tf_keras")
    result = tftrace.diff(a, b)
    assert not result.equivalent
    diverged = {p.name for p in result.pairs if p.kind == "optimizer_state" and p.diverged}
    assert any(name.endswith("/Momentum:0") for name in diverged)
