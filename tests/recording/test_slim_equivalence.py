"""Recording changes no number, and a Session run and the eager shim run of the
same tf-slim net record matching variables and endpoints."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tftrace
from tests.recording.recording_helpers import by_name
from tests.recording.slim_models import ENDPOINTS, run_session, run_shim

RUNNERS = [pytest.param(run_session, id="session"), pytest.param(run_shim, id="shim")]
TRAINING = [pytest.param(False, id="inference"), pytest.param(True, id="training")]


def tool_run(runner, net, is_training, mode="num_random_ops", steps=2):
    tool = tf.compat.v1.keras.utils.DeterministicRandomTestTool(mode=mode)
    with tool.scope():
        return runner(net, is_training, steps=steps)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("is_training", TRAINING)
@pytest.mark.parametrize("mode", [pytest.param("num_random_ops", id="num_random_ops"),
                                  pytest.param("constant", id="constant")])
def test_small_net_observer_effect_is_zero(tmp_path, runner, is_training, mode):
    expected = tool_run(runner, "small", is_training, mode)
    with tftrace.record(tmp_path / "t.zarr", seed_mode=mode):
        got = runner("small", is_training, steps=2)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("runner", RUNNERS)
def test_observer_effect_is_zero_with_the_programs_own_seeding(tmp_path, runner):
    expected = runner("small", True, steps=2, seed=1234)
    with tftrace.record(tmp_path / "t.zarr", seed_mode="off"):
        got = runner("small", True, steps=2, seed=1234)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.slow
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("net", [pytest.param("inception_v1", id="inception_v1"),
                                 pytest.param("resnet_v1_50", id="resnet_v1_50")])
def test_real_nets_observer_effect_is_zero(tmp_path, runner, net):
    expected = tool_run(runner, net, True, steps=1)
    with tftrace.record(tmp_path / "t.zarr", capture="stats"):
        got = runner(net, True, steps=1)
    np.testing.assert_array_equal(got[0], expected[0])


def assert_traces_match(a, b, endpoint_names):
    va, vb = by_name(a, "variable"), by_name(b, "variable")
    assert sorted(va) == sorted(vb)
    for name, (ea, xa) in va.items():
        eb, xb = vb[name]
        assert (ea.shape, ea.dtype, ea.attrs["trainable"]) == \
               (eb.shape, eb.dtype, eb.attrs["trainable"]), name
        if xa is None or xb is None:
            assert ea.digest == eb.digest, name
        else:
            np.testing.assert_array_equal(xa, xb, err_msg=name)
    ea, eb = by_name(a, "endpoint"), by_name(b, "endpoint")
    assert sorted(ea) == sorted(eb) == sorted(endpoint_names)
    for name in endpoint_names:
        # Grappler fuses graph ops differently from eager kernels: the guide's tolerance.
        np.testing.assert_allclose(ea[name][1], eb[name][1], rtol=1e-6, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("is_training", TRAINING)
def test_session_and_shim_traces_match_small_net(tmp_path, is_training):
    with tftrace.record(tmp_path / "s.zarr"):
        run_session("small", is_training, steps=1)
    with tftrace.record(tmp_path / "e.zarr"):
        run_shim("small", is_training, steps=1)
    assert_traces_match(tmp_path / "s.zarr", tmp_path / "e.zarr", ENDPOINTS["small"])
    random_s = by_name(tmp_path / "s.zarr", "random_op")
    assert len(random_s) == (3 if is_training else 2)  # conv and fc initializers [+ dropout]


@pytest.mark.slow
@pytest.mark.parametrize("is_training", TRAINING)
def test_session_and_shim_traces_match_inception_v1(tmp_path, is_training):
    with tftrace.record(tmp_path / "s.zarr"):
        run_session("inception_v1", is_training)
    with tftrace.record(tmp_path / "e.zarr"):
        run_shim("inception_v1", is_training)
    assert_traces_match(tmp_path / "s.zarr", tmp_path / "e.zarr", ENDPOINTS["inception_v1"])
