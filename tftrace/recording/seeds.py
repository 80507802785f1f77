"""Seed control: the semantics of ``DeterministicRandomTestTool``, without tf_keras.

TensorFlow asks ``random_seed.get_seed(op_seed)`` for the seed pair of every
stateful random op, in graphs (at op creation), eagerly (at execution) and while
tracing a ``tf.function``. Replacing that one function, as the tool does with
``mock.patch``, decides every op's seeds:

* ``num_random_ops``: the op seed is the number of seeds handed out so far
  (``operation_seed``, which the user may set); handing out a seed twice raises
  :class:`SeedReuseError`.
* ``constant``: every op gets ``operation_seed``; TensorFlow's global seed is reset
  to it each time, which in eager mode also clears the kernel cache, so two ops
  with the same seeds draw the same numbers.
* ``off``: TensorFlow's own ``get_seed`` answers; we only count.

In every mode the controller also numbers the seeds it hands out (``seed_index``)
so random ops can be ordered "by when they got their seed".

Keras does not ask ``get_seed``: a Keras 3 or tf-keras initializer or dropout
without a seed draws one from Python's ``random`` module (Keras 3's
``make_default_seed``, tf-keras's ``RandomGenerator._create_seed``), so its weights
change from process to process. Outside ``off`` mode both draw from a private
``random.Random(seed)`` while recording (Keras 3's global seed generator starts
afresh; tf-keras's thread-local seed generator is the one
``tf.keras.utils.set_random_seed`` would set), which makes Keras models deterministic
too without touching the program's own ``random`` state.
"""

from __future__ import annotations

import random
import threading
from types import ModuleType
from typing import Any, Callable

import tensorflow as tf
from tensorflow.python.framework import random_seed

from tftrace.errors import SeedReuseError, UsageError
from tftrace.recording.patches import Patches

SEED_MODES = ("num_random_ops", "constant", "off")
#: Keras modules whose default seeds come from Python's ``random``: Keras 3's
#: ``make_default_seed`` (its TF backend imports it by name) and tf-keras's backend.
KERAS_SEED_MODULES = ("keras.src.random.seed_generator", "keras.src.backend.tensorflow.random",
                      "tf_keras.src.backend")


class SeedControl:
    """Hands out seed pairs in place of ``random_seed.get_seed`` while installed."""

    def __init__(self, seed: int = 42, mode: str = "num_random_ops") -> None:
        if mode not in SEED_MODES:
            raise UsageError(f"seed_mode must be one of {', '.join(SEED_MODES)}; got {mode!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise UsageError(f"seed must be an integer; got {seed!r}")
        self.seed = seed
        self.mode = mode
        self._operation_seed = 0
        self._observed: set[int] = set()
        self._lock = threading.Lock()
        self._count = 0  # seeds handed out so far, in every mode
        self._local = threading.local()
        self._original: Callable[..., Any] | None = None
        self._keras_rng = random.Random(seed)
        self._patches = Patches()
        self._keras_generator_reset = False

    @property
    def operation_seed(self) -> int:
        """The op seed the next random op gets (ignored in ``off`` mode)."""
        return self._operation_seed

    @operation_seed.setter
    def operation_seed(self, value: int) -> None:
        self._operation_seed = value

    def next_index(self) -> int:
        """Take the next position in the seed order (for random ops without ``get_seed``)."""
        with self._lock:
            self._count += 1
            return self._count - 1

    def take_pending(self) -> tuple[int, Any] | None:
        """The (seed_index, seeds) of this thread's last ``get_seed`` call, once."""
        pending = getattr(self._local, "pending", None)
        self._local.pending = None
        return pending

    def install(self) -> None:
        if self._original is not None:
            return
        if self.mode != "off":
            tf.random.set_seed(self.seed)
        self._original = self._patches.patch(random_seed, "get_seed", self._get_seed, wraps=False)

    def patch_keras(self, module: ModuleType) -> None:
        """Give a Keras module's default seeds the private seed stream (not in ``off``)."""
        if self.mode == "off":
            return
        seeds = getattr(module, "_SEED_GENERATOR", None)  # tf-keras: a threading.local
        if module.__name__ == KERAS_SEED_MODULES[2] and seeds is not None:
            previous = getattr(seeds, "generator", None)
            seeds.generator = self._keras_rng
            self._patches.on_restore(lambda: setattr(seeds, "generator", previous))
            return
        if not callable(getattr(module, "make_default_seed", None)):
            return
        self._patches.patch(module, "make_default_seed", self._keras_default_seed, wraps=False)
        if module.__name__ == KERAS_SEED_MODULES[0] and not self._keras_generator_reset:
            from keras.src.backend.common import global_state

            key = module.GLOBAL_SEED_GENERATOR
            generator = global_state.get_global_attribute(key)
            global_state.set_global_attribute(key, None)  # recreated from the private stream
            self._keras_generator_reset = True
            self._patches.on_restore(lambda: global_state.set_global_attribute(key, generator))

    def _keras_default_seed(self) -> int:
        return self._keras_rng.randint(1, int(1e9))

    def uninstall(self) -> None:
        """Undo every patch (only our own: something installed after us keeps its own)."""
        self._patches.restore()
        self._original = None
        self._keras_generator_reset = False

    def _get_seed(self, op_seed: Any = None) -> Any:
        assert self._original is not None
        if self.mode == "off":
            seeds = self._original(op_seed)
        else:
            seeds = self._controlled_seeds()
        self._local.pending = (self.next_index(), seeds)
        return seeds

    def _controlled_seeds(self) -> tuple[int, int]:
        # Mirrors DeterministicRandomTestTool.scope()._get_seed line for line: the
        # op seed TensorFlow proposes is ignored and the pair is not truncated.
        op_seed = self._operation_seed
        if self.mode == "constant":
            tf.random.set_seed(op_seed)
        else:
            if op_seed in self._observed:
                raise SeedReuseError(
                    f"seed_mode='num_random_ops' would reuse the already-used operation seed "
                    f"{op_seed}: random numbers could not be guaranteed to match between "
                    f"Sessions and eager. Expected a fresh operation seed, got {op_seed}; "
                    f"you most likely set `operation_seed` to a value that makes the "
                    f"incrementing seed sequence overlap an already-used seed.")
            self._observed.add(op_seed)
            self._operation_seed += 1
        return (self.seed, op_seed)
