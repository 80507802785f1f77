"""The statistics kernel: a TensorFlow op computing a value's statistics in one pass.

``TftraceStatistics`` (C++, ``statistics_kernel.cc`` next to this module) reads a
float16, bfloat16, float32 or float64 tensor once and returns, as float64, its min and
max over the values that are not NaN, the sum of its finite values, its NaN, +Inf and
-Inf counts, and (``with_shape``) its rank and dimensions. TensorFlow's reductions need
one pass over the data each (Min, Max, Sum: about twice the cost of computing a cheap
value, benchmarks/op_statistics_cost.py), which is what makes op statistics slow.

It is compiled at first use, with the compiler and flags TensorFlow gives
(``tf.sysconfig``), into a cache directory (``~/.cache/tftrace/kernels``, or
``$TFTRACE_KERNEL_CACHE``) under a name keyed by everything the library depends on (the
source, TensorFlow's version and flags, the compiler, the CPU's vector extensions): a
later process loads it without compiling. The build writes a temporary file and renames
it, so no process ever loads a half-written library. When it cannot be built or loaded
(no compiler, a build error, a TensorFlow without headers), :func:`statistics_op`
returns None, says why once on stderr, and the statistics use TensorFlow's reductions
(summaries.py): slower, the same statistics up to the mean's last bits.
``TFTRACE_STATISTICS_KERNEL=off`` chooses the reductions without trying, and so does a
process with a GPU (the kernel is CPU-only: it would copy every value to the host).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import tensorflow as tf
from tensorflow.python.framework import ops

from tftrace.report.recording import statistics_kernel_warning

SOURCE = Path(__file__).with_name("statistics_kernel.cc")
OP_TYPE = "TftraceStatistics"
#: The dtypes the kernel reads (other floating dtypes are cast to float32 first).
DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
CACHE_VARIABLE = "TFTRACE_KERNEL_CACHE"
SWITCH_VARIABLE = "TFTRACE_STATISTICS_KERNEL"
#: Seconds a build may take (it compiles against TensorFlow's headers: 20-40 s).
BUILD_TIMEOUT = 600
_OPTIMIZE = ["-O3", "-fPIC", "-shared", "-w"]


@dataclass(frozen=True)
class KernelLibrary:
    """What loading the kernel gave: the op's Python function, or why there is none."""

    op: Callable[..., Any] | None
    path: Path | None
    built: bool  # compiled by this process (False: loaded from the cache)
    reason: str | None = None


_lock = threading.Lock()
_library: KernelLibrary | None = None


def statistics_op() -> Callable[..., Any] | None:
    """The kernel's op function (``op(value, with_shape=False)``), built or loaded at the
    first call of the process; None when it is switched off or cannot be had (said once
    on stderr)."""
    if os.environ.get(SWITCH_VARIABLE, "").strip().lower() in ("0", "off", "false", "no"):
        return None
    if _has_gpu():
        # A CPU kernel would copy every value from the GPU to the host: the reductions
        # run where the value is.
        return None
    return library().op


def _has_gpu() -> bool:
    global _gpu
    if _gpu is None:
        _gpu = bool(tf.config.list_logical_devices("GPU"))
    return _gpu


_gpu: bool | None = None


def library() -> KernelLibrary:
    """The kernel library of this process, built or loaded at the first call."""
    global _library
    with _lock:
        if _library is None:
            _library = _load()
            if _library.op is None:
                print(statistics_kernel_warning(str(_library.reason)), file=sys.stderr)
        return _library


def cache_dir() -> Path:
    """Where built kernels are kept: ``$TFTRACE_KERNEL_CACHE``, else
    ``$XDG_CACHE_HOME/tftrace/kernels`` (``~/.cache`` when unset)."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tftrace" / "kernels"


def compiler() -> list[str]:
    """The C++ compiler command: ``$CXX`` (split as a shell would), else ``g++``."""
    return shlex.split(os.environ.get("CXX", "")) or ["g++"]


def build_flags() -> list[str]:
    """The compile and link flags: TensorFlow's, ours, and the CPU's vector extensions
    that TensorFlow's own x86 wheels assume (AVX, F16C) when the CPU has them."""
    machine = [f"-m{flag}" for flag in ("avx", "f16c") if flag in _cpu_flags()]
    return (["-std=c++17"] + _OPTIMIZE + machine + list(tf.sysconfig.get_compile_flags())
            + list(tf.sysconfig.get_link_flags()))


def library_path() -> Path:
    """The cache path of the library for this TensorFlow, compiler, flags and source."""
    key = {"source": hashlib.sha256(SOURCE.read_bytes()).hexdigest(), "tensorflow": tf.__version__,
           "compiler": compiler(), "compiler_version": _compiler_version(), "flags": build_flags(),
           "machine": platform.machine(), "system": platform.system()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / f"tftrace_statistics-{digest}.so"


def _load() -> KernelLibrary:
    path: Path | None = None
    built = False
    try:
        path = library_path()
        if not path.exists():
            with _build_lock(path):  # processes starting together build it once
                if not path.exists():
                    _build(path)
                    built = True
        module = tf.load_op_library(str(path))
        op = module.tftrace_statistics
    except (OSError, subprocess.SubprocessError, tf.errors.OpError, AttributeError,
            ValueError, BuildError) as exc:
        return KernelLibrary(None, path, built, _reason(exc))
    if not _no_gradient.is_set():
        ops.NotDifferentiable(OP_TYPE)  # statistics are never differentiated
        _no_gradient.set()
    return KernelLibrary(op, path, built)


_no_gradient = threading.Event()


class BuildError(Exception):
    """The compiler failed."""


def _build(path: Path) -> None:
    """Compile the kernel to ``path``, atomically: a temporary file in the same
    directory, renamed (two processes building at once each rename a whole library)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".so.tmp", dir=path.parent)
    os.close(handle)
    try:
        command = compiler() + [str(SOURCE), "-o", temporary] + build_flags()
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if "error" in line]
            detail = (lines or (done.stderr or done.stdout).strip().splitlines() or ["no output"])[0]
            raise BuildError(f"{shlex.join(command[:1])} exited with {done.returncode}: {detail[:300]}")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s lock file (POSIX); elsewhere none (the rename
    alone keeps a build whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename and not Path(str(exc.filename)).is_absolute():
        return f"no C++ compiler ({exc.filename} not found; set CXX)"
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"the build took more than {BUILD_TIMEOUT} s"
    return f"{type(exc).__name__}: {exc}".strip()[:400]


def _compiler_version() -> str:
    done = subprocess.run(compiler() + ["--version"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise BuildError(f"{compiler()[0]} --version exited with {done.returncode}")
    return (done.stdout.splitlines() or [""])[0]


def _cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux x86); empty elsewhere: no extension assumed."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
