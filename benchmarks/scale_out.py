"""Scale out: traces on S3 against plain s3fs, and `diff --dask` against the local diff.

    .venv/bin/python benchmarks/scale_out.py [--s3-megabytes 64] [--rounds 3]
                                             [--gigabytes 4] [--array-mb 64] [--dir /tmp]

(a) **S3** on a moto server this script starts on 127.0.0.1 (a free port, its own
    process): tftrace writes ``--s3-megabytes`` of float32 noise (16 arrays) to
    ``s3://bench/rK.zarr`` and reads every array back (``Trace.array``); plain s3fs puts
    the same arrays as ``np.save`` bytes (``pipe``) and gets them back (``cat`` +
    ``np.load``). Side by side in each round (order alternating), ratio tftrace / s3fs
    per round, then median (min-max).
(b) **Dask**: two traces of ``--gigabytes`` of float32 noise each, arrays of ``--array-mb``,
    in a folder under ``--dir`` (free disk checked first, deleted afterwards); B = A x
    (1 + 2e-7) (one ULP or so, within rtol=1e-6, so every pair is compared by values)
    with one element changed by 1.0 in the fourth array from the end (a late divergence).
    The diff runs locally, then on LocalClusters of 1 and of 2 single-threaded worker
    processes started beforehand, as dask starts them and "tuned" (glibc's malloc told to
    keep freed blocks, :data:`TUNED_ENVIRON`) (``tftrace.diff(..., dask=address)``, what
    ``tftrace diff --dask tcp://...`` calls), in ``--dask-rounds`` rounds of alternating
    order; the result documents are asserted equal.
    From the scheduler's task stream: per-task throughput (bytes of A and B read per
    second of a task's compute, GB/s per worker) and the time a worker is not computing
    per task (scheduler, serialization, the caller's own work); and, on its own, the
    round trip of no-op tasks (the scheduler's overhead per task).

The load average is printed before and after: the machine is shared, figures are noisy.
Nothing is asserted about speed.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

S3_ARRAYS = 16
BUCKET = "bench"
RTOL, ATOL = 1e-6, 1e-5


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = work()
    return time.perf_counter() - start, out


# -- (a) S3 -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, endpoint
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("scale_out.py: error: the moto server did not start")


def s3_rounds(megabytes: int, rounds: int) -> None:
    server, endpoint = start_moto()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint})
    try:
        import s3fs

        from tftrace.format.reader import open_trace
        from tftrace.format.writer import TraceWriter

        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        rng = np.random.default_rng(0)
        per_array = megabytes * (1 << 20) // 4 // S3_ARRAYS
        arrays = [rng.standard_normal(per_array, dtype=np.float32).reshape(-1, 1024)
                  for _ in range(S3_ARRAYS)]
        nbytes = sum(a.nbytes for a in arrays)

        def tftrace_write(url: str) -> None:
            writer = TraceWriter.create(url, environment={"bench": "s3"})
            for i, x in enumerate(arrays):
                writer.add_event("variable", f"layer_{i}/kernel", value=x)
            writer.close()

        def tftrace_read(url: str) -> list[np.ndarray]:
            with open_trace(url) as trace:
                return [trace.array(e) for e in trace.events]

        def s3fs_put(prefix: str) -> None:
            for i, x in enumerate(arrays):
                buffer = io.BytesIO()
                np.save(buffer, x)
                fs.pipe(f"{prefix}/{i}.npy", buffer.getvalue())

        def s3fs_get(prefix: str) -> list[np.ndarray]:
            return [np.load(io.BytesIO(fs.cat(f"{prefix}/{i}.npy"))) for i in range(S3_ARRAYS)]

        print(f"(a) S3: moto server on {endpoint} (own process); {nbytes / 2**20:.0f} MiB float32 "
              f"in {S3_ARRAYS} arrays per side and round; MB/s = MiB/s")
        print(f"{'round':<7}{'tftrace write':>14}{'s3fs put':>10}{'ratio':>8}"
              f"{'tftrace read':>14}{'s3fs get':>10}{'ratio':>8}")
        write_ratios, read_ratios = [], []
        for k in range(rounds):
            url, prefix = f"s3://{BUCKET}/r{k}.zarr", f"{BUCKET}/npy{k}"
            steps = [("tw", lambda: tftrace_write(url)), ("sp", lambda: s3fs_put(prefix))]
            seconds: dict[str, float] = {}
            for key, work in steps if k % 2 == 0 else steps[::-1]:
                seconds[key] = timed(work)[0]
            fs.invalidate_cache()
            reads = [("tr", lambda: tftrace_read(url)), ("sg", lambda: s3fs_get(prefix))]
            got: dict[str, list[np.ndarray]] = {}
            for key, work in reads if k % 2 == 0 else reads[::-1]:
                seconds[key], got[key] = timed(work)
            for side in got.values():  # both read back what was written
                assert all(np.array_equal(x, y) for x, y in zip(arrays, side, strict=True))
            write_ratios.append(seconds["tw"] / seconds["sp"])
            read_ratios.append(seconds["tr"] / seconds["sg"])
            rate = {key: nbytes / 2**20 / s for key, s in seconds.items()}
            print(f"{k:<7}{rate['tw']:>10.0f} MB/s{rate['sp']:>10.0f}{write_ratios[-1]:>8.2f}"
                  f"{rate['tr']:>10.0f} MB/s{rate['sg']:>10.0f}{read_ratios[-1]:>8.2f}")
            fs.rm(f"{BUCKET}/r{k}.zarr", recursive=True)
            fs.rm(prefix, recursive=True)
        print(f"time ratio tftrace / s3fs (higher = tftrace slower), median (min-max) of {rounds}: "
              f"write {spread(write_ratios)}, read {spread(read_ratios)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- (b) Dask ---------------------------------------------------------------------------

def write_pair(root: Path, gigabytes: float, array_mb: int) -> tuple[str, str, int, int]:
    """Traces a.zarr and b.zarr; returns their paths, the arrays and the bytes of one trace."""
    from tftrace.format.writer import TraceWriter

    count = max(4, round(gigabytes * 1024 / array_mb))
    per_array = array_mb * (1 << 20) // 4
    planted = count - 4
    a, b = (TraceWriter.create(root / f"{n}.zarr", environment={"bench": n}) for n in "ab")
    rng = np.random.default_rng(1)
    for i in range(count):
        x = rng.standard_normal(per_array, dtype=np.float32).reshape(-1, 1024)
        y = x * np.float32(1 + 2e-7)
        if i == planted:
            y[len(y) // 2, 7] += 1.0
        a.add_event("variable", f"layer_{i:04d}/kernel", value=x)
        b.add_event("variable", f"layer_{i:04d}/kernel", value=y)
        del x, y
    a.close()
    b.close()
    return str(root / "a.zarr"), str(root / "b.zarr"), count, count * per_array * 4


def noop(i: int) -> int:
    return i


def scheduler_round_trip(client: Any, tasks: int = 400) -> float:
    """Seconds per no-op task, submitted all at once and gathered (what a task costs the
    scheduler and a worker with no work in it)."""
    client.gather(client.map(noop, range(20), pure=False))  # warm
    seconds, _ = timed(lambda: client.gather(client.map(noop, range(tasks), pure=False)))
    return seconds / tasks


def compute_seconds(stream: list[dict[str, Any]]) -> list[float]:
    """Per task of the diff: seconds spent computing (reading and comparing)."""
    return [sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
            for task in stream if str(task.get("key", "")).startswith("tftrace-compare")]


#: glibc settings for the workers that keep freed blocks in the heap: dask's nanny sets
#: MALLOC_TRIM_THRESHOLD_=65536 on every worker, which turns off glibc's adaptive mmap
#: threshold, so every 8 MiB block and 256 KiB temporary is a fresh mmap (docs/benchmarks.md).
TUNED_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(256 << 20)}


def start_cluster(workers: int, tuned: bool) -> tuple[float, Any]:
    import dask
    from distributed import LocalCluster

    environ = {"distributed.nanny.pre-spawn-environ": TUNED_ENVIRON} if tuned else {}
    with dask.config.set(environ):
        return timed(lambda: LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=None))


def dask_rounds(root: Path, gigabytes: float, array_mb: int, rounds: int) -> None:
    from distributed import Client

    from tftrace.compare.divergence import diff

    seconds, (a, b, count, nbytes) = timed(lambda: write_pair(root, gigabytes, array_mb))
    print(f"(b) Dask: wrote 2 traces of {nbytes / 2**30:.2f} GiB ({count} float32 arrays of "
          f"{array_mb} MiB) in {seconds:.0f} s under {root}; B = A x (1 + 2e-7), one element "
          f"+1.0 in array {count - 4}")
    modes: list[tuple[int, bool]] = [(0, False), (1, False), (2, False), (1, True), (2, True)]
    clusters, clients = {}, {}
    for mode in modes[1:]:
        start_seconds, clusters[mode] = start_cluster(*mode)
        clients[mode] = Client(clusters[mode])
        clients[mode].get_task_stream()  # installs the scheduler's task-stream plugin
        print(f"{label(mode)}: started in {start_seconds:.1f} s; no-op task round trip "
              f"{scheduler_round_trip(clients[mode]) * 1000:.1f} ms per task")
    reference = None
    per_task = 2 * nbytes / count  # A's and B's array
    print(f"{'round':<6}{'mode':<22}{'wall s':>8}{'vs local':>9}{'tasks':>7}"
          f"{'task GiB/s/worker':>19}{'idle s/task':>13}")
    try:
        for k in range(rounds):
            rows: dict[tuple[int, bool], str] = {}
            walls: dict[tuple[int, bool], float] = {}
            for mode in modes if k % 2 == 0 else modes[::-1]:  # the page cache warms up
                scheduler = clusters[mode].scheduler_address if mode[0] else None
                t0 = time.time()
                walls[mode], result = timed(lambda: diff(a, b, rtol=RTOL, atol=ATOL, dask=scheduler))
                if reference is None:
                    reference = result.to_dict()
                    first = result.first_divergence
                    print(f"# {sum(1 for p in result.pairs if p.compared_by == 'values')} pairs "
                          f"compared by values; first divergence: {first.name if first else None}")
                assert result.to_dict() == reference, f"round {k}: {label(mode)} differs"
                if not mode[0]:
                    rows[mode] = f"{'':>7}{2 * nbytes / 2**30 / walls[mode]:>19.3f}"
                    continue
                computing = compute_seconds(clients[mode].get_task_stream(start=t0))
                rate = statistics.median(per_task / 2**30 / s for s in computing)
                idle = (walls[mode] * mode[0] - sum(computing)) / len(computing)
                rows[mode] = f"{len(computing):>7}{rate:>19.3f}{idle:>13.3f}"
            for mode in modes:
                print(f"{k:<6}{label(mode):<22}{walls[mode]:>8.1f}"
                      f"{walls[mode] / walls[(0, False)]:>9.2f}{rows[mode]}")
    finally:
        for mode in modes[1:]:
            clients[mode].close()
            clusters[mode].close()
    print("same result document (to_dict) from the local diff and every cluster, every round: yes")
    print("task GiB/s/worker: median over tasks of (A + B bytes) / task compute seconds (for local: "
          "A + B bytes / wall); idle s/task: (wall x workers - sum of task compute) / tasks; "
          f"tuned: the workers' glibc {' '.join(f'{k}={v}' for k, v in TUNED_ENVIRON.items())}")


def label(mode: tuple[int, bool]) -> str:
    workers, tuned = mode
    return "local" if not workers else f"dask local:{workers}" + (" tuned" if tuned else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3-megabytes", type=int, default=64, help="MiB per side per S3 round")
    parser.add_argument("--rounds", type=int, default=3, help="S3 rounds")
    parser.add_argument("--dask-rounds", type=int, default=2, help="Dask rounds (order alternating)")
    parser.add_argument("--gigabytes", type=float, default=4.0, help="GiB per trace for the Dask part")
    parser.add_argument("--array-mb", type=int, default=64, help="MiB per array for the Dask part")
    parser.add_argument("--dir", type=Path, default=Path("/tmp"), help="where the Dask traces go")
    parser.add_argument("--skip", choices=["s3", "dask"], default=None, help="leave one part out")
    args = parser.parse_args()
    if args.gigabytes <= 0 or args.array_mb <= 0 or args.rounds <= 0 or args.s3_megabytes <= 0 \
            or args.dask_rounds <= 0:
        parser.error("sizes and rounds must be positive")
    print(f"# load average before: {loadavg()}  ({os.cpu_count()} cores)")
    if args.skip != "s3":
        s3_rounds(args.s3_megabytes, args.rounds)
    if args.skip != "dask":
        try:
            args.dir.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(args.dir).free
        except OSError as exc:
            parser.error(f"--dir {args.dir}: cannot write there: {exc.strerror or exc}")
        needed = 2 * args.gigabytes * 2**30 * 1.1 + 2 * 2**30  # the traces, 10% and 2 GiB to spare
        if free < needed:
            parser.error(f"--dir {args.dir}: {free / 2**30:.1f} GiB free, the Dask part needs "
                         f"{needed / 2**30:.1f} GiB; choose a smaller --gigabytes or another --dir")
        print(f"# {args.dir}: {free / 2**30:.1f} GiB free before writing")
        root = Path(tempfile.mkdtemp(prefix="tftrace-scale-bench-", dir=args.dir))
        try:
            dask_rounds(root, args.gigabytes, args.array_mb, args.dask_rounds)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"# load average after: {loadavg()}")


if __name__ == "__main__":
    main()
