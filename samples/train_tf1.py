"""Train samples/slim_net.py for a few steps TF1-style: a graph and a Session.

    python samples/train_tf1.py OUT.zarr      # records the run into OUT.zarr
"""

from __future__ import annotations

import sys

import slim_net
import tensorflow as tf

import tftrace


def main(out: str) -> None:
    images, labels = slim_net.data()
    graph = tf.Graph()
    with tftrace.record(out, seed=42, seed_mode="num_random_ops", overwrite=True) as rec, \
            graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        logits, end_points = slim_net.model(tf.constant(images), is_training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.constant(labels), logits=logits))
        update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
        with tf.control_dependencies(update_ops):
            train = tf.compat.v1.train.GradientDescentOptimizer(slim_net.LEARNING_RATE).minimize(loss)
        rec.endpoints(end_points)
        rec.endpoint("loss", loss)
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(slim_net.STEPS):
            sess.run([train, loss])  # endpoints are fetched with this run: it computes them anyway
            rec.snapshot_variables()
            rec.next_step()


if __name__ == "__main__":
    main(sys.argv[1])
