"""The environment names the Keras the program used and the settings its kernels ran with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

PROGRAM = """
import json, sys
import numpy as np
import keras, tf_keras  # both imported: only one builds the model
import tensorflow as tf
import tftrace

tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.threading.set_intra_op_parallelism_threads(2)
with tftrace.record(sys.argv[1]):
    # set inside the recording, after it started: the trace holds what the program ran with
    tf.config.experimental.enable_op_determinism()
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    layers = {"keras": keras.layers, "tf_keras": tf_keras.layers}[sys.argv[2]]
    layers.Dense(2)(np.zeros((1, 3), np.float32))
print(json.dumps(tftrace.open(sys.argv[1]).environment))
"""


@pytest.mark.parametrize("package", ["keras", "tf_keras"], ids=["keras", "tf-keras"])
def test_environment_names_the_keras_used_and_the_kernel_settings(tmp_path, package):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path / "t.zarr"), package],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    environment = json.loads(done.stdout.strip().splitlines()[-1])
    # the Keras whose layer ran, not whichever happens to be imported as well
    assert environment["keras_version"] == f"{package} {metadata.version(package.replace('_', '-'))}"
    kernels = environment["kernels"]
    assert kernels["onednn"] is False and kernels["variables"]["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert kernels["op_determinism"] is True
    assert (kernels["inter_op_threads"], kernels["intra_op_threads"]) == (1, 2)
    assert kernels["grappler_options"]["arithmetic_optimization"] is False
