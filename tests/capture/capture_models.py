"""Small real models for the capture tests: the tf-slim net of samples/localize_net.py, run
in a TF1 Session and eagerly through the ``track_tf1_style_variables`` shim, with one change
planted on its second convolution (activation, batch-norm epsilon or padding)."""

from __future__ import annotations

import sys
from pathlib import Path

from tftrace.recording.imports import alias_legacy_tf_layers

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
from localize_net import CHANGES, images, run_session, run_shim, slim_net  # noqa: E402,F401

alias_legacy_tf_layers()  # slim.batch_norm outside a recording needs tf-keras' legacy layers
