"""Fuzz the trace reader with mutated copies of the committed sample traces.

    .venv/bin/python tests/format/fuzz_traces.py [--cases 300] [--samples small|all] [--seed N]

Each case starts from a real sample trace (``sample_traces/*.zarr.zip``), applies one
to four mutations drawn by hypothesis (flip or overwrite bytes of an entry, truncate it,
delete or duplicate it, swap two entries, rewrite a field of a log record or of a
``zarr.json`` with an arbitrary value, plant a symbolic link or a directory, mangle the
zip's own bytes), stores the result as a directory, a stored zip or a deflated zip, and
runs ``show``, ``show --json``, ``cat``, ``check``, ``diff`` (against the intact sample)
and ``pack`` through the CLI, and ``tftrace.open()`` with every array read. It asserts:

- exit codes 0, 1 or 2 only, never a traceback; an error is one line ``Error: ...``;
- ``tftrace.open`` and array reads raise only ``TftraceError``; no file descriptor is
  left open;
- no file outside the case's own folder is touched (the samples, a sentinel file that
  planted links point to, the working directory), the sentinel's text never printed;
  ``pack`` leaves either a readable zip or nothing;
- the process's peak RSS (VmHWM), printed at the end with the case count and seconds.

It prints one JSON line: ``{"cases", "seconds", "peak_rss_mb", "exit_codes", ...}``.
``tests/format/test_fuzz.py`` runs a few hundred cases in ``make test``; ``make fuzz``
runs a long one.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import msgpack
from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import tftrace
from tftrace.cli import cli
from tftrace.errors import TftraceError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_traces").glob("*.zarr.zip"))
SMALL = [p for p in SAMPLES if p.stat().st_size < 200_000]
SENTINEL_TEXT = "fuzz-sentinel-outside-the-store"

#: Arbitrary msgpack values, including the ones a trace must refuse (ext types, deep nesting).
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.text(max_size=20) | st.binary(max_size=20)
    | st.sampled_from([msgpack.Timestamp(1, 2), msgpack.ExtType(7, b"x"), "\x1b[2J", "a" * 70_000,
                       2**40, -1, [10**12], [2, 2], "float32", "arrays/0", "arrays/../x"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8) | st.sampled_from(["kind", "name", "seq", "shape", "dtype", "attrs", "op_type",
                                               "seed", "chunk_shape", "codecs", "type"]), children, max_size=4),
    max_leaves=12)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.text(max_size=12)
    | st.sampled_from([[2**40], [1, 1], [10**12, 1], "int8", "zstd", "gzip", "crc32c", "/", ".", "v2"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "configuration", "chunk_shape", "separator", "endian", "level"]),
        children, max_size=3), max_leaves=8)
ZARR_KEYS = ["shape", "data_type", "chunk_grid", "chunk_key_encoding", "codecs", "fill_value", "attributes",
             "node_type", "zarr_format", "storage_transformers"]


def load_entries(sample: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(sample) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def mutate(data: st.DataObject, entries: dict[str, bytes]) -> tuple[dict[str, bytes], list[str], list[str]]:
    """Apply 1-4 mutations; returns the entries, the keys to plant as links, as directories."""
    entries = dict(entries)
    links: list[str] = []
    dirs: list[str] = []
    names = sorted(entries)
    meta_names = [n for n in names if n.endswith("zarr.json") or n.startswith("log/")]
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "overwrite", "truncate", "delete", "duplicate", "swap",
                                          "record", "record", "zarr_json", "zarr_json", "link", "dir"]), label="kind")
        pool = meta_names if kind in ("flip", "overwrite", "truncate") and data.draw(st.booleans()) else names
        pool = [n for n in pool if n in entries] or sorted(entries)
        if not pool:
            break
        key = data.draw(st.sampled_from(pool), label="key")
        content = entries[key]
        if kind == "flip" and content:
            at = data.draw(st.integers(0, len(content) - 1))
            entries[key] = content[:at] + bytes([content[at] ^ data.draw(st.integers(1, 255))]) + content[at + 1:]
        elif kind == "overwrite":
            at = data.draw(st.integers(0, len(content)))
            entries[key] = content[:at] + data.draw(st.binary(min_size=1, max_size=16)) + content[at + 16:]
        elif kind == "truncate":
            entries[key] = content[:data.draw(st.integers(0, max(0, len(content) - 1)))]
        elif kind == "delete":
            del entries[key]
        elif kind == "duplicate":
            other = data.draw(st.sampled_from(sorted(entries)))
            entries[key] = entries[other]
        elif kind == "swap":
            other = data.draw(st.sampled_from(sorted(entries)))
            entries[key], entries[other] = entries[other], content
        elif kind == "record":
            logs = [n for n in sorted(entries) if n.startswith("log/")]
            if logs:
                key = data.draw(st.sampled_from(logs))
                entries[key] = _mutate_record(data, entries[key])
        elif kind == "zarr_json":
            metas = [n for n in sorted(entries) if n.endswith("zarr.json")]
            if metas:
                key = data.draw(st.sampled_from(metas))
                entries[key] = _mutate_json(data, entries[key])
        elif kind == "link":
            links.append(key)
        elif kind == "dir":
            dirs.append(key)
    return entries, links, dirs


def _mutate_record(data: st.DataObject, segment: bytes) -> bytes:
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(segment)
        records = list(unpacker)
    except Exception:
        return segment
    if not records:
        return segment
    i = data.draw(st.integers(0, len(records) - 1), label="record")
    record = records[i]
    if isinstance(record, dict) and record and data.draw(st.booleans()):
        field = data.draw(st.sampled_from(sorted(map(str, record)) + ["attrs", "environment", "shape"]))
        target = record
        if field in ("attrs", "environment") and isinstance(record.get(field), dict) and record[field] \
                and data.draw(st.booleans()):
            target = record[field]
            field = data.draw(st.sampled_from(sorted(map(str, target))))
        target[field] = data.draw(PLAIN, label="value")
    else:
        records[i] = data.draw(PLAIN, label="record value")
    if data.draw(st.booleans()):
        j = data.draw(st.integers(0, len(records) - 1))
        records[i], records[j] = records[j], records[i]
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in records)


def _mutate_json(data: st.DataObject, raw: bytes) -> bytes:
    try:
        meta = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(meta, dict):
        return raw
    key = data.draw(st.sampled_from(ZARR_KEYS), label="zarr key")
    meta[key] = data.draw(JSON_VALUE, label="zarr value")
    return json.dumps(meta).encode()


def write_store(entries: dict[str, bytes], where: Path, container: str, links: list[str], dirs: list[str],
                sentinel: Path, order: list[int]) -> Path:
    if container == "dir":
        store = where / "t.zarr"
        store.mkdir()
        for key, content in entries.items():
            path = store / key
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # a key that is also a directory: skip it
        for key in links + dirs:
            path = store / key
            if path.is_file():
                path.unlink()
                if key in links:
                    path.symlink_to(sentinel)
                else:
                    path.mkdir()
        return store
    store = where / "t.zarr.zip"
    names = sorted(entries)
    names = [names[i % len(names)] for i in order] if names and order else names
    compression = zipfile.ZIP_DEFLATED if container == "zip-deflated" else zipfile.ZIP_STORED
    seen = set()
    with zipfile.ZipFile(store, "w", compression=compression) as zf:
        for name in names + sorted(entries):
            if name not in seen:
                seen.add(name)
                zf.writestr(name, entries[name])
    return store


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns)
    return out


def _descriptors() -> int:
    """Open file descriptors of this process (0 where /proc is not there)."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would count, after a fork,
    the pages of the process that started this one)."""
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmHWM:"))) / 1024


class Failure(AssertionError):
    pass


def run_case(store: Path, original: Path, name: str, case_dir: Path, sentinel: Path,
             exit_codes: collections.Counter[str]) -> None:
    runner = CliRunner()
    out_zip = case_dir / "packed" / "o.zarr.zip"
    out_zip.parent.mkdir()
    commands = [["show", store], ["show", "--json", store], ["cat", store, name], ["check", store],
                ["diff", original, store, "--all"], ["diff", store, original, "--format", "junit"],
                ["pack", store, out_zip]]
    for args in commands:
        result = runner.invoke(cli, [str(a) for a in args], color=True)
        code = result.exit_code
        exit_codes[f"{args[0]} {code}"] += 1
        if code not in (0, 1, 2) or (result.exception is not None and not isinstance(result.exception, SystemExit)):
            raise Failure(f"{args[0]}: exit {code}, exception {result.exception!r}\n{result.output[-2000:]}") \
                from result.exception
        if SENTINEL_TEXT in result.output:
            raise Failure(f"{args[0]} printed the sentinel outside the store")
        if code == 2:
            lines = result.stderr.strip().splitlines()
            if len(lines) != 1 or not lines[0].startswith("Error: "):
                raise Failure(f"{args[0]}: expected one 'Error:' line, got {result.stderr[-2000:]!r}")
    packed = list(out_zip.parent.iterdir())
    if packed and (packed != [out_zip] or not zipfile.is_zipfile(out_zip)):
        raise Failure(f"pack left {packed}")
    try:
        with tftrace.open(store) as trace:
            for event in trace.events[:200]:
                if event.stored:
                    trace.array(event)
    except TftraceError:
        pass


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--samples", choices=["small", "all"], default="small",
                        help="small: the samples under 200 kB (fast); all: the Inception v2 ones too")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args(argv)
    samples = SMALL if args.samples == "small" else SAMPLES
    originals = {p: load_entries(p) for p in samples}
    names = {}
    for p in samples:
        with tftrace.open(p) as trace:
            names[p] = sorted({ev.name for ev in trace.events if ev.stored})[:8]
    work = Path(tempfile.mkdtemp(prefix="tftrace-fuzz-"))
    cwd = work / "cwd"
    cwd.mkdir()
    sentinel = work / "sentinel"
    sentinel.write_text(SENTINEL_TEXT)
    samples_before = tree_state(ROOT / "sample_traces")
    exit_codes: collections.Counter[str] = collections.Counter()
    counter = {"cases": 0}
    start = time.perf_counter()

    @settings(max_examples=args.cases, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        sample = data.draw(st.sampled_from(samples), label="sample")
        entries, links, dirs = mutate(data, originals[sample])
        container = data.draw(st.sampled_from(["dir", "zip-stored", "zip-deflated", "raw-zip"]), label="container")
        case_dir = Path(tempfile.mkdtemp(dir=work, prefix="case-"))
        try:
            order = data.draw(st.lists(st.integers(0, 10_000), max_size=6), label="order")
            store = write_store(entries, case_dir, "zip-stored" if container == "raw-zip" else container,
                                links, dirs, sentinel, order)
            if container == "raw-zip":  # the zip's own structure: headers, central directory
                raw = bytearray(store.read_bytes())
                for _ in range(data.draw(st.integers(1, 3))):
                    at = data.draw(st.integers(0, len(raw) - 1))
                    raw[at] = data.draw(st.integers(0, 255))
                cut = data.draw(st.integers(len(raw) // 2, len(raw)))
                store.write_bytes(bytes(raw[:cut]))
            before = tree_state(case_dir)
            name = data.draw(st.sampled_from(names[sample] or ["x"]), label="name")
            os.chdir(cwd)
            descriptors = _descriptors()
            run_case(store, sample, name, case_dir, sentinel, exit_codes)
            if _descriptors() > descriptors:
                raise Failure(f"the commands left {_descriptors() - descriptors} file descriptors open")
            after = tree_state(case_dir)
            changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            changed = {k for k in changed if not k.startswith("packed")}
            if changed:
                raise Failure(f"the case's store changed: {sorted(changed)[:5]}")
            if list(cwd.iterdir()) or sentinel.read_text() != SENTINEL_TEXT:
                raise Failure("a file outside the store was written")
            counter["cases"] += 1
        finally:
            os.chdir(ROOT)
            shutil.rmtree(case_dir, ignore_errors=True)

    if args.seed is not None:
        fuzz = seed(args.seed)(fuzz)
    try:
        fuzz()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if tree_state(ROOT / "sample_traces") != samples_before:
        raise Failure("the sample traces changed")
    summary = {"cases": counter["cases"], "seconds": round(time.perf_counter() - start, 1),
               "peak_rss_mb": round(peak_rss_mb(), 1),
               "samples": [p.name for p in samples], "seed": args.seed,
               "exit_codes": dict(sorted(exit_codes.items()))}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
