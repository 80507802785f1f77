"""``lower-precision``: a Keras mixed-precision policy in B.

A: Keras 3, ``float32`` policy: ``Dense(16, relu, name="hidden")`` -> ``Dense(3,
   name="logits", dtype="float32")``, 2 steps of hand SGD in a ``tf.function``.
B: the same under ``keras.config.set_dtype_policy(policy)``: "mixed_bfloat16" (fault=True or
   "bfloat16"), "mixed_float16" (fault="float16"); fault=False: "float32". Variables stay
   float32 (the policy's variable dtype), so A's initial weights replay by name.

Endpoints: ``hidden`` (the layer's own output: bfloat16/float16 in B), ``hidden_f32`` (the
same cast to float32, so values can be compared), ``logits`` (float32 on both sides), ``loss``.
Evidence: ``hidden`` differs in dtype (today a structural divergence: no values compared);
``hidden_f32`` and ``logits`` differ by about the format's epsilon (2**-8 bf16, 2**-11 fp16).
"""

from __future__ import annotations

from port_pairs import common  # noqa: F401

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("lower-precision",)
LR = 0.1
X = _base.features(8, 6, seed=0)
Y = _base.labels(8, 3)
POLICIES = {True: "mixed_bfloat16", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16",
            False: "float32"}


def _run(rec: Any, policy: str) -> None:
    import keras
    import tensorflow as tf

    keras.config.set_dtype_policy(policy)
    try:
        hidden = keras.layers.Dense(16, activation="relu", name="hidden")
        logits_layer = keras.layers.Dense(3, name="logits", dtype="float32")
        hidden.build((None, X.shape[1]))
        logits_layer.build((None, 16))
    finally:
        keras.config.set_dtype_policy("float32")
    x, y = tf.constant(X), tf.constant(Y)

    def forward() -> Any:
        h = hidden(x)
        logits = logits_layer(h)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                             logits=logits))
        return {"hidden": h, "hidden_f32": tf.cast(h, tf.float32), "logits": logits,
                "loss": loss}, loss

    _base.tf2_train(rec, forward,
                    lambda: hidden.trainable_variables + logits_layer.trainable_variables, None,
                    steps=2, apply=_base.sgd_apply(LR))


def record_a(path: str) -> str:
    return common.record(path, lambda rec: _run(rec, "float32"))


def record_b(path: str, source: str | None = None, fault: Any = True) -> str:
    return common.record(path, lambda rec: _run(rec, POLICIES[fault]), source)
