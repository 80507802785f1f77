"""``noise`` / ``grappler-arithmetic``: graph-mode last-bit drift that disappears with
Grappler's arithmetic optimizer off (the migration guide's "Additional testing").

A model function with a hand-written normalization, ``(h - mean) / tf.sqrt(var + eps)``, as
TF1 code often has. In a graph, Grappler's arithmetic optimizer rewrites ``x / sqrt(y)`` into
``x * rsqrt(y)``, which rounds differently; eager execution runs the division as written.

A: TF1 Session (Grappler on: the default), one forward pass (inference). With
   ``train=True`` (3 GradientDescent steps) the forward pass of step 0 is bit-equal to eager
   (we believe because the ``Sqrt`` then has a second consumer, its gradient, and the stage
   rewrites only a single-consumer ``Sqrt``), but the gradients differ from eager ones even
   with the whole meta optimizer off: that drift is graph vs eager, not Grappler.
   ``record_a(path, arithmetic=False)``: the Session's config turns the arithmetic
   optimizer off (the guide's ``arithmetic_optimization: False``).
B: the same model function through the ``track_tf1_style_variables`` shim, run eagerly
   (fault=True), or in a ``tf.function`` (fault=False or "function": Grappler rewrites it
   the same way as A), tape + hand SGD; A's initial weights by replay.

Evidence (figures in REPORT.md): ``logits`` differ in 44 of 64 elements, up to 512 ULP
(relative 3e-5, on values near zero) between A (arithmetic optimizer on) and eager B;
bit-equal with it off, and bit-equal to B in a ``tf.function``. Recording ``normalized``
too (``observe=True``) shows where it starts: 467 of 1024 elements differ by at most 2 ULP
(the ``Div`` node keeps its name when Grappler rewrites it, so fetching it does not stop
the rewrite).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("noise", "grappler-arithmetic")
LR = 0.1
X = _base.features(16, 32, seed=0)
Y = _base.labels(16, 4)


def model(x: Any, observe: bool = False) -> tuple[dict[str, Any], Any]:
    import tensorflow as tf

    h = tf.compat.v1.layers.dense(x, 64, name="proj")
    mean, variance = tf.nn.moments(h, axes=[1], keepdims=True)
    normalized = (h - mean) / tf.sqrt(variance + 1e-5)
    logits = tf.compat.v1.layers.dense(normalized, 4, name="logits")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(Y), logits=logits))
    endpoints = {"normalized": normalized} if observe else {}
    return {**endpoints, "logits": logits, "loss": loss}, loss


def run_a(rec: Any, arithmetic: bool = True, optimizer: bool = True,
          observe: bool = False, train: bool = False) -> None:
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = tf.compat.v1.ConfigProto()
    if not arithmetic:
        config.graph_options.rewrite_options.arithmetic_optimization = \
            rewriter_config_pb2.RewriterConfig.OFF
    if not optimizer:
        config.graph_options.rewrite_options.disable_meta_optimizer = True
    _base.session_train(rec, lambda: model(tf.constant(X), observe),
                        (lambda: tf.compat.v1.train.GradientDescentOptimizer(LR)) if train else None,
                        steps=_base.STEPS if train else 1, config=config)


def run_b(rec: Any, fault: Any = True, observe: bool = False, train: bool = False) -> None:
    import tensorflow as tf

    class Net(tf.keras.layers.Layer):
        @tf.compat.v1.keras.utils.track_tf1_style_variables
        def call(self, x: Any) -> Any:
            return model(x, observe)

    net = Net()
    x = tf.constant(X)
    net(x)  # build eagerly

    def forward() -> Any:
        return net(x)

    def trainable() -> Any:
        return net.trainable_variables

    _base.tf2_train(rec, forward, trainable, None, steps=_base.STEPS if train else 1,
                    function=(fault is False or fault == "function"),
                    apply=_base.sgd_apply(LR) if train else None)


def record_a(path: str, arithmetic: bool = True, optimizer: bool = True,
             observe: bool = False, train: bool = False) -> str:
    """``arithmetic=False``: Grappler's arithmetic optimizer off; ``optimizer=False``: the
    whole meta optimizer off; ``observe``: also record ``normalized`` (fetching it does not
    stop the rewrite: the rewritten node keeps its name);
    ``train``: 3 GradientDescent steps instead of one forward pass."""
    return common.record(path, lambda rec: run_a(rec, arithmetic, optimizer, observe, train))


def record_b(path: str, source: str | None = None, fault: Any = True,
             observe: bool = False, train: bool = False) -> str:
    return common.record(path, lambda rec: run_b(rec, fault, observe, train), source)
