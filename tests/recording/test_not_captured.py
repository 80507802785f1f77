"""What a recording saw or was asked for but did not capture is listed, with the reason:
on stderr at the end, in the trace, by `show` and `check`; `diff` calls it a capture gap."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli


def session_program(path, fetch_head: bool, ask_head: bool = True) -> list[np.ndarray]:
    """A TF1 Session program with an endpoint ('head') that only some versions compute."""
    with tftrace.record(path) as rec:
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
            w = tf.compat.v1.get_variable("w", (3,), initializer=tf.compat.v1.ones_initializer())
            logits = w * 2.0
            head = logits + 1.0
            rec.endpoint("logits", logits)
            if ask_head:
                rec.endpoint("head", head)
            sess.run(tf.compat.v1.global_variables_initializer())
            return sess.run([logits, head] if fetch_head else [logits])


def test_a_graph_endpoint_no_run_computed_is_listed_and_diffs_as_a_capture_gap(tmp_path, capfd):
    session_program(tmp_path / "a.zarr", fetch_head=False)
    stderr = capfd.readouterr().err
    assert (f"tftrace: wrote {tmp_path / 'a.zarr'}: 2 events (endpoint 1, variable 1); the run "
            f"completed\ntftrace: not captured (1; listed in the trace, `tftrace show`):\n"
            f"  endpoint 'head': no Session.run computed it (graph tensor add:0) [at {__file__}:")\
        in stderr
    trace = tftrace.open(tmp_path / "a.zarr")
    (gap,) = trace.environment["not_captured"]
    assert (gap["kind"], gap["name"], gap["reason"], gap["count"]) == \
        ("endpoint", "head", "never-computed", 1)
    assert [e.name for e in trace.events if e.kind == "endpoint"] == ["logits"]

    runner = CliRunner()
    show = runner.invoke(cli, ["show", str(tmp_path / "a.zarr")]).output
    assert "not captured   1\n  endpoint 'head': no Session.run computed it (graph tensor add:0)" in show
    check = runner.invoke(cli, ["check", str(tmp_path / "a.zarr")])
    assert check.exit_code == 1 and "- endpoint 'head' was not captured: never-computed" in check.output

    session_program(tmp_path / "b.zarr", fetch_head=True)
    result = tftrace.diff(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert (result.verdict, result.first_divergence, result.broken_stream) == ("capture-gap", None, None)
    (pair,) = result.gaps
    assert (pair.name, pair.status, pair.seq_a, pair.seq_b, pair.message) == \
        ("head", "gap", None, 2, "endpoint only in B; A did not capture it (never-computed)")
    text = runner.invoke(cli, ["diff", str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")])
    assert text.exit_code == 1
    assert text.output.startswith(
        "tftrace diff: NOT EQUIVALENT: CAPTURE GAPS\n  1 event of one trace could not be compared "
        "because the other run did not capture them (capture gaps, not divergences)\n")
    assert "broke first" not in text.output
    assert json.loads(result.to_json())["summary"][2]["gap"] == 1
    # Negative control: when A never asked for 'head', B's 'head' is an extra event.
    session_program(tmp_path / "c.zarr", fetch_head=False, ask_head=False)
    plain = tftrace.diff(tmp_path / "c.zarr", tmp_path / "b.zarr")
    assert (plain.verdict, plain.first_divergence.status) == ("diverged", "extra")


def test_the_environment_names_the_cpu_and_the_kernel_settings(tmp_path):
    import os

    with tftrace.record(tmp_path / "t.zarr") as rec:
        rec.endpoint("x", np.ones(2))
    env = tftrace.open(tmp_path / "t.zarr").environment
    cpu, kernels = env["cpu"], env["kernels"]
    assert isinstance(cpu["model"], str) and cpu["count"] == os.cpu_count()
    with open("/proc/cpuinfo") as info:
        flags = next(line for line in info if line.startswith("flags")).split(":")[1].split()
    assert set(cpu["flags"]) <= set(flags) and ("avx2" in flags) == ("avx2" in cpu["flags"])
    assert kernels["variables"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    assert kernels["intra_op_threads"] == tf.config.threading.get_intra_op_parallelism_threads()
    assert isinstance(kernels["onednn"], bool)
