"""`tftrace record`: the script runs in-process inside record(), its status passed through."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tftrace.cli import cli
from tftrace.format.reader import open_trace

SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    import tftrace

    assert __name__ == "__main__"
    x = tf.random.uniform((3,))
    tftrace.endpoint("argv", " ".join(sys.argv[1:]))
    tftrace.endpoint("x", x)
    if sys.argv[1] == "fail":
        raise RuntimeError("boom")
    sys.exit(int(sys.argv[1]))
""")


@pytest.mark.parametrize("arg, status", [pytest.param("0", 0, id="ok"),
                                         pytest.param("3", 3, id="exit3"),
                                         pytest.param("fail", 1, id="raises")])
def test_record_runs_script_and_passes_exit_status(tmp_path, arg, status):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "t.zarr"
    result = CliRunner().invoke(cli, ["record", "-o", str(out), "--seed", "7",
                                      "--capture", "stats", str(script), arg, "--flag"])
    assert result.exit_code == status, result.output
    trace = open_trace(out)
    # sys.exit(0) completes the run; sys.exit(3) and an exception do not
    assert trace.complete == (arg == "0")
    assert trace.status.status == ("completed" if arg == "0" else "raised")
    assert trace.environment["seed"] == 7 and trace.environment["capture"] == "stats"
    argv = trace.event("argv", kind="endpoint")
    assert argv.dtype == "string"
    (random_op,) = [e for e in trace.events if e.kind == "random_op"]
    assert random_op.attrs["seed"] == [7, 0] and not random_op.stored
    if arg == "fail":
        assert "RuntimeError" in trace.environment["error"]
        assert (trace.status.exception_type, trace.status.message) == ("RuntimeError", "boom")
    if arg == "3":
        assert (trace.status.exception_type, trace.status.message) == ("SystemExit", "3")


def test_record_missing_script_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["record", "-o", str(tmp_path / "t.zarr"),
                                      str(tmp_path / "nope.py")])
    assert result.exit_code == 2
    assert "no such file" in result.output


@pytest.mark.slow
def test_slim_batch_norm_works_inside_record_without_the_tf_keras_alias(tmp_path):
    """tf_slim.batch_norm imports tf_keras.legacy_tf_layers, which tf-keras lacks;
    run in a fresh interpreter so no earlier test has installed the alias."""
    script = tmp_path / "bn.py"
    script.write_text(textwrap.dedent("""
        import tensorflow as tf
        import tf_slim as slim
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            x = tf.ones((2, 4, 4, 3))
            y = slim.conv2d(x, 4, [3, 3], normalizer_fn=slim.batch_norm,
                            normalizer_params={"is_training": True})
            sess.run(tf.compat.v1.global_variables_initializer())
            print(sess.run(y).shape)
    """))
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert plain.returncode != 0 and "tf_keras.legacy_tf_layers" in plain.stderr
    recorded = subprocess.run(
        [str(Path(sys.executable).with_name("tftrace")), "record", "-o", str(tmp_path / "t.zarr"),
         str(script)], capture_output=True, text=True)
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    names = [e.name for e in open_trace(tmp_path / "t.zarr").events if e.kind == "variable"]
    assert "Conv/BatchNorm/moving_mean:0" in names
    assert "(2, 4, 4, 4)" in recorded.stdout
