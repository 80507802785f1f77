"""A tiny tf_keras regression trained for two steps under a tf.distribute strategy, recorded.

    python distributed_train.py STRATEGY OUT [K:FACTOR]

STRATEGY: ``single`` (no strategy), ``mirrored`` (MirroredStrategy on two logical CPU
devices) or ``multi-worker`` (MultiWorkerMirroredStrategy; TF_CONFIG says which worker).
Every run sees the same global batch of 8 rows per step; a replica gets its slice. The
loss is averaged over the global batch, so the all-reduced (summed) gradients equal the
single run's. The optional third argument plants a per-worker difference: worker K
scales the all-reduced gradients by FACTOR before its update (as a worker-local
gradient scaling or clipping setting would); its weights drift from the others' after
step 0, which no all-reduce corrects.
"""

from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

STRATEGY, OUT = sys.argv[1], sys.argv[2]
PLANT = sys.argv[3] if len(sys.argv) > 3 else None
GLOBAL_BATCH, STEPS = 8, 2

# A strategy is made before anything else touches TensorFlow's runtime (and so before
# recording starts: record() reads the devices).
if STRATEGY == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
elif STRATEGY == "multi-worker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
else:
    strategy = tf.distribute.get_strategy()

import tf_keras  # noqa: E402

import tftrace  # noqa: E402
from tftrace.recording.distributed import cluster  # noqa: E402

worker = (cluster() or {}).get("worker") or 0
scale = 1.0
if PLANT is not None and int(PLANT.split(":")[0]) == worker:
    scale = float(PLANT.split(":")[1])

rows = np.linspace(-1.0, 1.0, STEPS * GLOBAL_BATCH * 4, dtype=np.float32).reshape(-1, 4)
targets = np.stack([rows.sum(1), rows[:, 0] - rows[:, 3], rows[:, 1] * 2.0], axis=1)


def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This worker's slice of every global batch, one per-replica batch per local replica
    (a strategy hands a pipeline's batches to its local replicas in turn)."""
    per_replica = context.get_per_replica_batch_size(GLOBAL_BATCH)
    width = per_replica * (context.num_replicas_in_sync // context.num_input_pipelines)
    start = context.input_pipeline_id * width
    data = tf.data.Dataset.from_tensor_slices((rows, targets)).batch(GLOBAL_BATCH)
    return data.map(lambda x, y: (x[start:start + width], y[start:start + width])).unbatch() \
        .batch(per_replica)


with tftrace.record(OUT, seed=42) as rec:
    with strategy.scope():
        model = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(4,))])
        optimizer = tf_keras.optimizers.SGD(0.1)
    batches = iter(strategy.distribute_datasets_from_function(dataset))

    @tf.function
    def train_step(batch):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                per_example = tf.reduce_sum((model(x) - y) ** 2, axis=1)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
            grads = tape.gradient(loss, model.trainable_variables)
            tftrace.endpoint("inputs", x)
            tftrace.endpoint("local_grads/kernel", grads[0])  # this replica's, before the all-reduce
            summed = tf.distribute.get_replica_context().all_reduce("sum", grads)
            update = [g * scale for g in summed] if scale != 1.0 else summed
            optimizer.apply_gradients(zip(update, model.trainable_variables),
                                      skip_gradients_aggregation=True)
            # Returned and recorded outside: observing the all-reduce's output inside the
            # function would keep an IdentityN that Grappler removes (not captured).
            return loss, summed

        return strategy.run(replica_step, args=batch)

    for step in range(STEPS):
        losses, summed = train_step(next(batches))
        tftrace.endpoint("grads/kernel", summed[0])  # per replica (equal on every replica)
        tftrace.endpoint("grads/bias", summed[1])
        tftrace.endpoint("loss", strategy.reduce("sum", losses, axis=None))
        rec.snapshot_variables()
        rec.next_step()
print(f"trained {STEPS} steps on {strategy.num_replicas_in_sync} replica(s)")
