"""The value comparisons of a diff on a ``dask.distributed`` cluster (``diff --dask``).

Only the element-wise comparisons move: alignment, structure checks, digests and the
verdict stay in the caller, which then builds exactly the result a local diff builds.
Each task opens the two traces where they are (a local path every worker sees, or a
URL on object storage), reads its pair's blocks straight from the stores and returns
the :class:`~tftrace.compare.metrics.ValueComparison` the local diff would compute with
the same function. Tasks are submitted in recording order; with ``stop_at_first`` the
ones after the first divergence are cancelled as soon as it is settled.

dask is an optional extra (``pip install 'tftrace[dask]'``), imported only here.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Iterator

from tftrace.compare.metrics import ValueComparison
from tftrace.compare.tolerance import Tolerance
from tftrace.errors import UsageError

#: Traces a worker keeps open between tasks (opening one reads its whole log).
OPEN_TRACES = 4

#: The environment ``local:N`` workers start with. dask's nanny sets
#: MALLOC_TRIM_THRESHOLD_=65536, which turns glibc's adaptive mmap threshold off: every
#: 8 MiB block a task reads is then a fresh mmap, and tasks ran at half speed
#: (docs/benchmarks.md, "scale out"). A value the user's dask config sets wins.
WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(256 << 20)}
#: What dask's own distributed.yaml gives, which is not the user's choice.
_DASK_DEFAULTS = {"MALLOC_TRIM_THRESHOLD_": "65536"}


def start(scheduler: str) -> Any:
    """A ``distributed.Client`` for ``scheduler``: an address, or ``local:N`` for a
    ``LocalCluster`` of N single-threaded worker processes on 127.0.0.1."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs dask.distributed: pip install 'tftrace[dask]'") from None
    if scheduler.startswith("local:"):
        count = scheduler.split(":", 1)[1]
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise UsageError(f"--dask {scheduler}: expected local:N with N from 1 to 256 workers")
        import dask

        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", None) or {})
        for key, value in WORKER_ENVIRON.items():
            if str(environ.get(key, _DASK_DEFAULTS.get(key))) == str(_DASK_DEFAULTS.get(key)):
                environ[key] = value
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
        return Client(cluster)
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--dask {scheduler}: cannot reach the scheduler ({exc}); give its address "
                         "(tcp://host:8786) or local:N") from None


def close(client: Any) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def location(path: str | os.PathLike[str]) -> str:
    """The path a worker opens: a URL as it is, a local path made absolute."""
    from tftrace.format import remote

    text = str(path)
    return text if remote.is_url(text) else os.path.abspath(remote.local_path(text))


def compare_remote(path_a: str, seq_a: int, path_b: str, seq_b: int, tolerance: Tolerance,
                   block_bytes: int) -> ValueComparison:
    """The task: compare event ``seq_a`` of A with ``seq_b`` of B, as the local diff does."""
    from tftrace.compare.blocks import compare_stored as compare

    trace_a, trace_b = _opened(path_a), _opened(path_b)
    a, b = trace_a.events[seq_a], trace_b.events[seq_b]  # the log is in seq order, gap-free
    return compare(trace_a, a, trace_b, b, tolerance, block_bytes)


_traces: OrderedDict[str, Any] = OrderedDict()
_traces_lock = threading.Lock()


def _opened(path: str) -> Any:
    from tftrace.format.reader import open_trace

    with _traces_lock:
        trace = _traces.get(path)
        if trace is not None:
            _traces.move_to_end(path)
            return trace
        trace = open_trace(path)
        _traces[path] = trace
        while len(_traces) > OPEN_TRACES:
            _traces.popitem(last=False)[1].close()
        return trace


def run_on_cluster(differ: Any, scheduler: str) -> Any:
    """Run a diff (a ``divergence._Differ``) with its value comparisons on ``scheduler``."""
    client = start(scheduler)
    try:
        differ.remote = DistributedValues(client, str(differ.a.path), str(differ.b.path),
                                          differ.block_bytes)
        return differ.run()
    finally:
        close(client)


class DistributedValues:
    """Value comparisons submitted up front, in recording order, and taken back in order."""

    def __init__(self, client: Any, path_a: str, path_b: str, block_bytes: int):
        self.client = client
        self.path_a, self.path_b = location(path_a), location(path_b)
        self.block_bytes = block_bytes
        self._futures: dict[tuple[int, int], Any] = {}

    def submit(self, seq_a: int, seq_b: int, tolerance: Tolerance) -> None:
        self._futures[(seq_a, seq_b)] = self.client.submit(
            compare_remote, self.path_a, seq_a, self.path_b, seq_b, tolerance, self.block_bytes, key=f"tftrace-compare-{seq_a}-{seq_b}-{id(self)}", pure=False)

    def result(self, seq_a: int, seq_b: int) -> ValueComparison | None:
        future = self._futures.pop((seq_a, seq_b), None)
        if future is None:
            return None
        return _result(future)

    def cancel_rest(self) -> None:
        """Drop every comparison not taken yet (the first divergence is settled)."""
        if self._futures:
            self.client.cancel(list(self._futures.values()))
            self._futures.clear()

    def pending(self) -> Iterator[tuple[int, int]]:
        return iter(self._futures)


def _result(future: Any) -> ValueComparison:
    from tftrace.errors import TftraceError

    try:
        return future.result()  # type: ignore[no-any-return]
    except TftraceError:
        raise  # a trace a worker cannot read: the same one-line error as locally
