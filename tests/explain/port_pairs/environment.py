"""``environment`` (and ``noise``): the same program in two processes whose settings differ.

Both sides run this file as a script in a subprocess (the settings must be in place before
TensorFlow starts): a Keras 3 model (``Conv2D`` 8 filters -> ``Flatten`` -> ``Dense`` 64 ->
``Dense`` 5) trained 3 steps by ``keras.optimizers.SGD`` in a ``tf.function``. tftrace's
seed stream for Keras makes both processes start from the same weights, so no replay is
needed.

A: ``TF_ENABLE_ONEDNN_OPTS=0`` (this machine's default: oneDNN is off on this AMD CPU).
B: fault=True or "onednn": ``TF_ENABLE_ONEDNN_OPTS=1``; "determinism":
   ``tf.config.experimental.enable_op_determinism()``; "threads": intra-op threads 1
   (``TF_NUM_INTRAOP_THREADS=1``); "threads4": 4 intra-op threads on 2 cores;
   fault=False: A's settings again (the same program twice: the noise floor).

Evidence: with oneDNN the conv and matmul kernels round differently: every endpoint
differs in the last bits from step 0 (figures in REPORT.md). The trace's environment holds
versions, platform and devices, but none of these settings: today nothing in either trace
says why.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from port_pairs import common  # noqa: F401,E402

from typing import Any  # noqa: E402

from port_pairs import _base  # noqa: E402

CODES = ("environment", "noise")
REPLAY = False
LR = 0.05
IMAGES = _base.images(8, 12, 3, seed=0)
LABELS = _base.labels(8, 5)
SETTINGS: dict[Any, tuple[dict[str, str], list[str]]] = {
    "baseline": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, []),
    "onednn": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, []),
    "determinism": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, ["--determinism"]),
    "threads": ({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1"}, []),
    "threads4": ({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "4"}, []),
}


def run(rec: Any) -> None:
    import keras
    import tensorflow as tf

    conv = keras.layers.Conv2D(8, 3, activation="relu", name="conv")
    flatten = keras.layers.Flatten()
    hidden = keras.layers.Dense(64, activation="relu", name="hidden")
    logits_layer = keras.layers.Dense(5, name="logits")
    layers = [conv, hidden, logits_layer]
    conv.build((None,) + IMAGES.shape[1:])
    hidden.build((None, 10 * 10 * 8))
    logits_layer.build((None, 64))
    optimizer = keras.optimizers.SGD(LR)
    x, y = tf.constant(IMAGES), tf.constant(LABELS)

    def forward() -> Any:
        net = conv(x)
        h = hidden(flatten(net))
        logits = logits_layer(h)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y,
                                                                             logits=logits))
        return {"conv": net, "hidden": h, "logits": logits, "loss": loss}, loss

    def trainable() -> list[Any]:
        return [v for layer in layers for v in layer.trainable_variables]

    optimizer.build(trainable())
    _base.tf2_train(rec, forward, trainable, optimizer)


def record_a(path: str) -> str:
    env, args = SETTINGS["baseline"]
    _base.in_subprocess(__file__, [path, *args], env)
    return path


def record_b(path: str, source: str | None = None, fault: Any = True) -> str:
    key = {True: "onednn", False: "baseline"}.get(fault, fault)
    env, args = SETTINGS[key]
    _base.in_subprocess(__file__, [path, *args], env)
    return path


if __name__ == "__main__":
    import tensorflow as tf

    if "--determinism" in sys.argv:
        tf.config.experimental.enable_op_determinism()
    with common.recording(sys.argv[1]) as recorder:
        run(recorder)
