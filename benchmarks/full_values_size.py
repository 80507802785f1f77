"""How few bytes one training step's op values can take losslessly, and what that means
for the time a step needs to write them.

Records one step of benchmarks/op_capture.py's model (Keras 3 MobileNetV2 alpha 0.5,
96x96, batch 16) at ``ops=full``, reads every op value back, and compresses each one
alone the ways a trace could store it: zstd at levels 1, 3 and 9 (tftrace writes
zstd level 1 where a value shrinks by half, else raw: docs/format.md), and zstd after a
byte shuffle (each value's bytes grouped by their place in the element, as Blosc does
for floats; a trace cannot store that today). Prints per way the bytes of the step, the
ratio to the raw values, the CPU seconds it took in one thread, and, at the disk rate
given (``--disk-mbs``, as benchmarks/op_capture.py measures it) or measured here, the
least time a step needs to write those bytes against the plain step.

    python benchmarks/full_values_size.py [--tmp /tmp] [--disk-mbs 400]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from op_capture import disk_rate, mobilenet  # this folder's script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    parser.add_argument("--disk-mbs", type=float, default=0.0,
                        help="the disk's write rate in MB/s (0: measured, 2 GiB fsynced)")
    args = parser.parse_args()

    _, _, make_step, x, y = mobilenet()
    import numpy as np
    from numcodecs import zstd

    import tftrace

    plain = make_step()
    plain(x, y).numpy()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        plain(x, y).numpy()
        times.append(time.perf_counter() - start)
    plain_s = statistics.median(times)

    tmp = tempfile.mkdtemp(prefix="full_values_size_", dir=args.tmp)
    try:
        path = os.path.join(tmp, "t.zarr")
        with tftrace.record(path, seed_mode="off", layers="off", ops="full", gradients="off",
                            optimizer="off"):
            make_step()(x, y).numpy()
        trace = tftrace.open(path)
        events = list(trace.select(kind="op"))
        ways: dict[str, Any] = {f"zstd {level}": (False, level) for level in (1, 3, 9)}
        ways.update({f"shuffle + zstd {level}": (True, level) for level in (1, 3)})
        sizes = dict.fromkeys(ways, 0)
        seconds = dict.fromkeys(ways, 0.0)
        raw = 0
        for event in events:
            value = np.ascontiguousarray(trace.array(event))
            data = value.tobytes()
            shuffled = value.view(np.uint8).reshape(-1, value.dtype.itemsize).T.tobytes() \
                if value.size else data
            raw += len(data)
            for way, (shuffle, level) in ways.items():
                start = time.process_time()
                sizes[way] += len(zstd.compress(shuffled if shuffle else data, level))
                seconds[way] += time.process_time() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rate = args.disk_mbs or disk_rate(args.tmp, 2048)
    how = "given" if args.disk_mbs else f"measured under {args.tmp}, 2 GiB written and fsynced"
    print(f"# one step's op values: {len(events)} events, {raw / 1e6:.1f} MB raw; plain step "
          f"{plain_s:.3f} s (median of 5); disk {rate:.0f} MB/s ({how})")
    print(f"{'stored as':20} {'MB/step':>8} {'ratio':>6} {'CPU s':>6} {'write s/step':>12} {'x plain':>8}")
    for way in ["raw", *ways]:
        size = raw if way == "raw" else sizes[way]
        cpu = 0.0 if way == "raw" else seconds[way]
        floor = size / 1e6 / rate
        print(f"{way:20} {size / 1e6:>8.1f} {raw / size:>6.2f} {cpu:>6.2f} {floor:>12.2f} "
              f"{floor / plain_s:>8.1f}")


if __name__ == "__main__":
    main()
