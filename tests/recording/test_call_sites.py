"""An endpoint's call site is the user's line that made the tensor when its graph knows it
(TF1 graph, ``tf.function``), not the line of a helper that passed it to tftrace."""

from __future__ import annotations

import inspect

import tensorflow as tf

import tftrace


def log(name, tensor):
    tftrace.endpoint(name, tensor)  # the helper's line: what eager values get


HELPER_LINE = inspect.getsourcelines(log)[1] + 1


def marked_line(marker: str) -> int:
    """The line of this file that ends with ``# <marker>``."""
    with open(__file__, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if line.rstrip().endswith(f"# {marker}"))


def test_endpoint_call_site_is_where_the_tensor_was_made(tmp_path):
    with tftrace.record(tmp_path / "t.zarr"):
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session() as session:
            x = tf.ones((2,)) * 3.0  # made x
            log("x", x)
            session.run(x)

        @tf.function
        def double(a):
            y = a * 2.0  # made y
            log("y", y)
            return y

        double(tf.ones(2))
        log("z", tf.ones(2))
    sites = {e.name: e.attrs["call_site"] for e in tftrace.open(tmp_path / "t.zarr").events}
    assert sites["x"].startswith(f"{__file__}:{marked_line('made x')} in ")
    assert sites["y"] == f"{__file__}:{marked_line('made y')} in double"
    # An eager value has no graph op: the line that handed it over is all there is.
    assert sites["z"] == f"{__file__}:{HELPER_LINE} in log"
