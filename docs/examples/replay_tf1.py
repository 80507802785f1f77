"""Run A of docs/replay.md: a tf-slim net trained 3 steps in a TF1 Session, seeded
by TensorFlow's own graph seed (seed_mode="off" leaves it alone).

    python docs/examples/replay_tf1.py a.zarr
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "samples")))

import tensorflow as tf  # noqa: E402

import slim_net  # noqa: E402  (conv + batch norm + dropout + fully connected)
import tftrace  # noqa: E402

images, labels = slim_net.data()
graph = tf.Graph()
with tftrace.record(sys.argv[1], seed_mode="off", overwrite=True) as rec, \
        graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
    tf.compat.v1.set_random_seed(1234)
    logits, end_points = slim_net.model(tf.constant(images), is_training=True)
    rec.endpoints(end_points)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.constant(labels), logits=logits))
    with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
        train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
    rec.endpoint("loss", loss)
    sess.run(tf.compat.v1.global_variables_initializer())
    for _ in range(3):
        sess.run([train, loss])
        rec.snapshot_variables()
        rec.next_step()
