"""The TF1 side of docs/tutorial.md: a tf-slim network in a graph and a Session.

    tftrace record -o tf1.zarr docs/examples/tutorial_tf1.py {inference|training} STEPS

The network is samples/slim_inception.py: ``tf_slim.nets.inception_v2`` made small
(depth multiplier 0.1, 32x32 inputs, 5 classes), with batch norm and dropout. The
script does not record by itself: ``tftrace record`` runs it inside a recording, and
the module-level ``tftrace.endpoint`` / ``next_step`` / ``snapshot_variables`` reach
that recording (they do nothing when the script runs alone).
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "samples")))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import slim_inception as net  # noqa: E402
import tftrace  # noqa: E402

mode, steps = sys.argv[1], int(sys.argv[2])
training = mode == "training"
rng = np.random.default_rng(0)  # a batch of 16: batch norm over 4 samples is ill-conditioned
images = rng.random((16, net.SIZE, net.SIZE, 3), dtype=np.float32)
labels = rng.integers(0, net.CLASSES, size=16)
graph = tf.Graph()
with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
    logits, end_points = net.model(tf.constant(images), is_training=training)
    for name, value in end_points.items():
        tftrace.endpoint(name, value)
    regularization_loss = tf.add_n(
        tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES))
    tftrace.endpoint("regularization_loss", regularization_loss)
    loss = regularization_loss + tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(labels), logits=logits))
    tftrace.endpoint("loss", loss)
    fetches = [loss]
    if training:
        with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
            fetches.append(tf.compat.v1.train.GradientDescentOptimizer(net.LEARNING_RATE).minimize(loss))
    sess.run(tf.compat.v1.global_variables_initializer())
    for _ in range(steps):
        sess.run(fetches)
        tftrace.snapshot_variables()
        tftrace.next_step()
