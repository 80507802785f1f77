"""Train a sample net for a few steps TF1-style: a graph and a Session.

    python samples/train_tf1.py OUT.zarr [NET]   # records the run into OUT.zarr

NET is a module in samples/ with ``model``, ``data`` and the constants BATCH, SIZE,
CLASSES, STEPS, LEARNING_RATE: ``slim_net`` (default) or ``slim_inception``.
"""

from __future__ import annotations

import importlib
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # track_tf1_style_variables needs tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import tftrace  # noqa: E402


def main(out: str, net_name: str = "slim_net") -> None:
    net = importlib.import_module(net_name)
    images, labels = net.data()
    graph = tf.Graph()
    with tftrace.record(out, seed=42, seed_mode="num_random_ops", overwrite=True) as rec, \
            graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        logits, end_points = net.model(tf.constant(images), is_training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.constant(labels), logits=logits))
        rec.endpoints(end_points)
        regularization = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
        if regularization:  # weight decay from the net's arg scope
            regularization_loss = tf.add_n(regularization)
            rec.endpoint("regularization_loss", regularization_loss)
            loss = loss + regularization_loss
        update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(update_ops):
            train = tf.compat.v1.train.GradientDescentOptimizer(net.LEARNING_RATE).minimize(loss)
        rec.endpoint("loss", loss)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(net.STEPS):
            sess.run([train, loss])  # endpoints are fetched with this run: it computes them anyway
            rec.snapshot_variables()
            rec.next_step()


if __name__ == "__main__":
    main(*sys.argv[1:3])
