"""Test-wide TensorFlow setup (kept minimal; see docs/recording.md, "Testing").

``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported so that
``tf.compat.v1.keras.utils`` (tf-keras) provides ``track_tf1_style_variables`` and
``DeterministicRandomTestTool``, which the recording tests compare against.
Keras 3 stays importable as ``keras``.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
