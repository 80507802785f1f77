"""Traces on object storage: a real S3 API (moto's server on 127.0.0.1), real recordings.

Every command runs as a user would run it: a separate process, credentials and the
endpoint from the environment (AWS_* variables), the trace named by its s3:// URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

BUCKET = "traces"
SECRET = "tftrace-test-secret-5f0c1e"  # must never reach a trace or a report

PROGRAM = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    import tftrace

    # one process, several recordings: OUT SCALE pairs
    for out, scale in zip(sys.argv[1::2], map(float, sys.argv[2::2])):
        with tftrace.record(out, overwrite=True) as rec:
            w = tf.Variable(tf.random.normal([4, 3]), name="w")
            x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 4))
            for step in range(3):
                y = tf.matmul(x, w) * scale
                rec.endpoint("y", y)
                rec.endpoint("loss", tf.reduce_sum(y * y))
                w.assign_sub(0.01 * w)
                rec.next_step()
""")


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port, a bucket, and the environment that reaches it."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().mkdir(BUCKET)
    try:
        yield {**os.environ, **env}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def _run(env: dict[str, str], *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run(env, "-m", "tftrace", *args)


def _record(env: dict[str, str], tmp_path: Path, *outs: tuple[str, float]) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    done = _run(env, str(script), *(str(x) for pair in outs for x in pair))
    assert done.returncode == 0, done.stderr[-2000:]


def _objects(prefix: str) -> dict[str, bytes]:
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    return {name: fs.cat_file(name) for name in fs.find(f"{BUCKET}/{prefix}")}


@pytest.fixture(scope="module")
def recorded(s3_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One program recorded to S3 and, the same way, to a local directory, a local
    recording of the program with its output scaled (the negative control), and the
    program recorded to a zip URL."""
    tmp_path = tmp_path_factory.mktemp("recorded")
    url = f"s3://{BUCKET}/run-a.zarr"
    _record(s3_env, tmp_path, (url, 1.0), (str(tmp_path / "local.zarr"), 1.0),
            (str(tmp_path / "scaled.zarr"), 1.5), (f"s3://{BUCKET}/packed/run.zarr.zip", 1.0))
    return url, tmp_path


def test_a_trace_recorded_to_s3_reads_and_diffs_like_a_local_one(
        s3_env: dict[str, str], recorded: tuple[str, Path]) -> None:
    url, tmp_path = recorded

    import tftrace

    with tftrace.open(url) as remote, tftrace.open(tmp_path / "local.zarr") as local:
        assert remote.path == url and remote.status.status == "completed"
        assert [(e.kind, e.name, e.step) for e in remote.events] == \
            [(e.kind, e.name, e.step) for e in local.events]
        for ev in local.events:  # the same program, the same seeds: the same numbers, bit for bit
            if ev.stored:
                np.testing.assert_array_equal(remote.array(remote.event(ev.name, step=ev.step,
                                                                        kind=ev.kind)), local.array(ev))
    same = _cli(s3_env, "diff", url, str(tmp_path / "local.zarr"))
    assert same.returncode == 0 and "EQUIVALENT" in same.stdout, same.stdout + same.stderr
    # the negative control: the program scales y by 1.5, from its first step on (w, its
    # random draw and its updates do not depend on the scale), so y at step 0 is the first
    # divergence and every element of B's is 1.5 times A's
    differs = _cli(s3_env, "diff", "--format", "json", url, str(tmp_path / "scaled.zarr"))
    assert differs.returncode == 1, differs.stdout + differs.stderr
    first = json.loads(differs.stdout)["first_divergence"]
    assert (first["kind"], first["name"], first["step"], first["status"]) == ("endpoint", "y", 0, "diverged")
    with tftrace.open(tmp_path / "local.zarr") as local:
        y = local.array(local.event("y", step=0))
        loss = local.array(local.event("loss", step=1))
        y_at_1 = local.array(local.event("y", step=1))
    values = first["values"]
    assert values["size"] == y.size and values["mismatched"] == y.size
    for element in [values["max_abs_error"], *values["mismatches"]]:
        a = y[tuple(element["index"])]
        assert element["a"] == float(a) and element["b"] == float(a * np.float32(1.5)), element
    show = _cli(s3_env, "show", url)
    assert show.returncode == 0 and url in show.stdout and "completed" in show.stdout
    cat = _cli(s3_env, "cat", url, "loss", "--step", "1")
    assert cat.returncode == 0, cat.stderr
    # the whole value, as the program computed it: loss = sum(y * y) of its step-1 y
    np.testing.assert_allclose(loss, np.sum(y_at_1.astype(np.float64) ** 2), rtol=1e-6)
    assert cat.stdout.strip().splitlines()[-1] == repr(loss.item()), cat.stdout
    check = _cli(s3_env, "check", url)
    assert check.returncode == 0, check.stdout + check.stderr


def test_zip_urls_record_pack_and_read(s3_env: dict[str, str], recorded: tuple[str, Path],
                                       tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/packed/run.zarr.zip"  # recorded by the fixture
    objects = _objects("packed")
    assert list(objects) == [f"{BUCKET}/packed/run.zarr.zip"]  # no .partial prefix left
    local = tmp_path / "from-s3.zarr.zip"
    assert _cli(s3_env, "pack", url, str(local)).returncode == 0
    back = f"s3://{BUCKET}/repacked/run.zarr.zip"
    packed = _cli(s3_env, "pack", str(local), back)
    assert packed.returncode == 0, packed.stderr
    again = _cli(s3_env, "pack", str(local), back)
    assert again.returncode == 2 and "already exists" in again.stderr and "--overwrite" in again.stderr
    dir_url = f"s3://{BUCKET}/run-a.zarr"  # recorded by the fixture, from the same program
    from_dir = _cli(s3_env, "pack", dir_url, f"s3://{BUCKET}/from-dir.zarr.zip")
    assert from_dir.returncode == 0, from_dir.stderr
    for a, b in [(url, back), (back, str(local)), (f"s3://{BUCKET}/from-dir.zarr.zip", url)]:
        same = _cli(s3_env, "diff", a, b)
        assert same.returncode == 0 and "EQUIVALENT" in same.stdout, (a, b, same.stdout, same.stderr)


KILLED = textwrap.dedent("""
    import sys, time
    import numpy as np
    import tftrace
    from tftrace.format.writer import TraceWriter

    w = TraceWriter.create(sys.argv[1], environment={"host": "test"})
    for i in range(1000):
        w.add_event("endpoint", f"e{i}", value=np.full((64,), i, np.float32))
        if i == 40:
            w.flush()
            print("flushed", flush=True)
        time.sleep(0.05)
""")


def test_a_killed_recording_leaves_a_readable_prefix_on_the_store(s3_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/killed.zarr"
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    # TMPDIR: the staging directory a killed recording cannot remove stays under tmp_path
    proc = subprocess.Popen([sys.executable, str(script), url], env={**s3_env, "TMPDIR": str(tmp_path)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "flushed"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    import tftrace

    with tftrace.open(url) as trace:
        assert trace.status.status == "killed" and not trace.complete
        names = [e.name for e in trace.events]
        assert names[:41] == [f"e{i}" for i in range(41)]  # every event flushed before the kill
        for ev in trace.events:  # ... with its values
            np.testing.assert_array_equal(trace.array(ev), np.full((64,), int(ev.name[1:]), np.float32))
    check = _cli(s3_env, "check", url)
    assert check.returncode == 1 and "killed" in check.stdout, check.stdout + check.stderr


def test_credentials_never_reach_a_trace_or_a_report(s3_env: dict[str, str],
                                                     recorded: tuple[str, Path]) -> None:
    url = recorded[0]
    bodies = _objects("")
    assert len(bodies) > 10
    for name, body in bodies.items():
        assert SECRET.encode() not in body, name
    outputs = [_cli(s3_env, "show", "--json", url), _cli(s3_env, "diff", "--format", "json", url, url),
               _cli(s3_env, "check", url)]
    for done in outputs:
        assert done.returncode == 0 and SECRET not in done.stdout + done.stderr
    with_creds = _cli(s3_env, "show", f"s3://testing:{SECRET}@{BUCKET}/run-a.zarr")
    assert with_creds.returncode == 2 and "credentials" in with_creds.stderr
    assert SECRET not in with_creds.stderr and len(with_creds.stderr.strip().splitlines()) == 1


def test_bad_urls_are_one_line_errors(s3_env: dict[str, str], recorded: tuple[str, Path]) -> None:
    cases: list[tuple[list[str], str]] = [
        (["show", f"s3://{BUCKET}/nothing-here.zarr"], "no such trace"),
        (["show", "s3://no-such-bucket-tftrace/run.zarr"], "no such trace"),
        (["show", "nosuchscheme://x/run.zarr"], "no filesystem"),
    ]
    for args, words in cases:
        done = _cli(s3_env, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    # a chunk object replaced by a bigger one than its array declares: corruption, not a read
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.copy(f"{BUCKET}/run-a.zarr", f"{BUCKET}/tampered.zarr", recursive=True)
    url = f"s3://{BUCKET}/tampered.zarr"
    intact = _cli(s3_env, "diff", url, url)
    assert intact.returncode == 0, intact.stdout + intact.stderr  # the copy reads before tampering
    chunk = next(n for n in fs.find(f"{BUCKET}/tampered.zarr/arrays")
                 if n.rsplit("/", 1)[-1].startswith("c"))
    fs.pipe_file(chunk, b"\0" * (fs.size(chunk) + 4096))
    import tftrace

    with tftrace.open(url) as trace:  # the log is intact; the chunk's event is found
        key = chunk.split("/tampered.zarr/", 1)[1].rsplit("/", 1)[0]
        event = next(e for e in trace.events if e.array_key == key)
    done = _cli(s3_env, "cat", url, event.name, "--step", str(event.step), "--kind", event.kind.value
                if hasattr(event.kind, "value") else str(event.kind))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "bytes" in done.stderr and "Traceback" not in done.stderr


def test_without_fsspec_a_url_names_the_extra_to_install(s3_env: dict[str, str]) -> None:
    blocked = ("import sys; sys.modules['fsspec'] = None; sys.modules['fsspec.core'] = None; "
               "from tftrace.cli import main; sys.argv = ['tftrace', 'show', 's3://b/run.zarr']; main()")
    done = _run(s3_env, "-c", blocked)
    assert done.returncode == 2 and "pip install 'tftrace[s3]'" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_cluster_compares_traces_straight_from_the_store(s3_env: dict[str, str],
                                                          recorded: tuple[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    from tftrace.compare import divergence

    url, tmp_path = recorded
    scaled = f"s3://{BUCKET}/scaled.zarr"
    assert _cli(s3_env, "pack", str(tmp_path / "scaled.zarr"), scaled + ".zip").returncode == 0
    local = divergence.diff(url, scaled + ".zip")
    assert local.first_divergence is not None and local.first_divergence.name == "y"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a value comparison ran in the calling process")

    monkeypatch.setattr(divergence, "compare_stored", refuse)  # only the workers may read values
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:  # workers inherit AWS_*
        remote = divergence.diff(url, scaled + ".zip", dask=cluster.scheduler_address)
    assert remote.to_dict() == local.to_dict()


FLUSHES = textwrap.dedent("""
    import sys
    import numpy as np
    from tftrace.format.writer import TraceWriter

    w = TraceWriter.create(sys.argv[1], environment={"host": "test"})
    # a file the writer did not write: a mirror that walks the staging directory uploads it
    (w.directory / "arrays" / "stray").write_bytes(b"not written by the trace writer")
    for flush in range(4):
        for i in range(3):
            w.add_event("endpoint", f"e{flush}.{i}", value=np.full((64,), flush, np.float32))
        w.flush()
    w.close()
""")


@pytest.fixture
def logged_s3(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A moto S3 server of its own (a process on a free loopback port) that logs every
    request it serves, in order, to a file; the environment that reaches it."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    requests = tmp_path / "requests.jsonl"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "MOTO_ENABLE_RECORDING": "1", "MOTO_RECORDER_FILEPATH": str(requests)}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/{BUCKET}", method="PUT")
                urllib.request.urlopen(request, timeout=1).close()  # the bucket
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the moto server did not start")
        yield env, requests
    finally:
        server.kill()
        server.wait(timeout=30)


def test_a_flush_uploads_only_what_the_writer_added(logged_s3: tuple[dict[str, str], Path],
                                                    tmp_path: Path) -> None:
    import msgpack

    env, requests = logged_s3
    prefix = f"/{BUCKET}/flushes.zarr/"
    script = tmp_path / "flushes.py"
    script.write_text(FLUSHES)
    done = _run(env, str(script), "s3:/" + prefix.rstrip("/"))
    assert done.returncode == 0, done.stderr[-2000:]

    from urllib.parse import unquote, urlsplit

    puts = [unquote(urlsplit(entry["url"]).path)[len(prefix):]
            for entry in map(json.loads, requests.read_text().splitlines())
            if entry["method"] == "PUT" and urlsplit(entry["url"]).path.startswith(prefix)]
    assert len(puts) == len(set(puts))  # no file is uploaded twice
    assert "arrays/stray" not in puts  # nor any file the writer did not write

    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key="testing", secret=SECRET)
    stored = sorted(name[len(prefix) - 1:] for name in fs.find(prefix.strip("/")))
    assert sorted(puts) == stored
    # Between the uploads of segments k-1 and k come exactly the array files of the events
    # segment k logs (read from the segment itself): what that flush added; the group's
    # metadata only before segment 0.
    segments = [key for key in puts if key.startswith("log/")]
    assert segments == [f"log/{k}" for k in range(len(segments))] and len(segments) >= 6
    start = 0
    for k, segment in enumerate(segments):
        end = puts.index(segment)
        before = puts[start:end]
        metadata = sorted(key for key in before if key.count("/") < 2)
        assert metadata == ([] if k else ["arrays/zarr.json", "zarr.json"]), (segment, before)
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(fs.cat_file(prefix.strip("/") + "/" + segment))
        logged = {record["array"] for record in unpacker if record.get("array")}
        added = {"/".join(key.split("/")[:2]) for key in before if key.count("/") >= 2}
        assert added == logged, (segment, before, logged)
        start = end + 1
    assert start == len(puts) and len({key for key in puts if key.count("/") >= 2}) >= 12 * 2


# -- packed values (format 6) ----------------------------------------------------------

PACKS_PROGRAM = textwrap.dedent("""
    import sys, time
    import numpy as np
    from tftrace.format.writer import TraceWriter

    w = TraceWriter.create(sys.argv[1], environment={"host": "test"})
    for i in range(int(sys.argv[2])):
        w.add_event("op", f"v{i}", value=np.arange(512, dtype=np.float32) * i if i % 2
                    else np.zeros((64, 64), np.float32) + i, keep_value=True)
        if i % 10 == 9:
            w.flush()
            print("flushed", i + 1, flush=True)
            time.sleep(float(sys.argv[3]))
    w.close()
""")


def _packed_value(i: int) -> np.ndarray:
    return np.arange(512, dtype=np.float32) * i if i % 2 else np.zeros((64, 64), np.float32) + i


@pytest.mark.parametrize("name", ["packed.zarr", "packed.zarr.zip"])
def test_packed_values_record_to_s3_and_read_back(s3_env: dict[str, str], tmp_path: Path, name: str) -> None:
    url = f"s3://{BUCKET}/{name}"
    script = tmp_path / "program.py"
    script.write_text(PACKS_PROGRAM)
    done = _run(s3_env, str(script), url, "30", "0")
    assert done.returncode == 0, done.stderr[-2000:]
    import tftrace

    if name.endswith(".zarr"):
        keys = [key.split(f"{name}/", 1)[1] for key in _objects(name)]
        assert {key.split("/")[0] for key in keys} == {"zarr.json", "arrays", "log", "packs"}
        assert sorted(k for k in keys if k.startswith("packs/")) == sorted(
            f"packs/{n}/{f}" for n in (1, 2, 3) for f in ("c.0", "zarr.json"))
    with tftrace.open(url) as trace:
        assert trace.complete and len(trace.events) == 30
        for ev in trace.events:
            assert ev.packed is not None
            np.testing.assert_array_equal(trace.array(ev), _packed_value(int(ev.name[1:])))


def test_a_killed_recording_leaves_its_packed_values_on_the_store(s3_env: dict[str, str], tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/killed-packs.zarr"
    script = tmp_path / "program.py"
    script.write_text(PACKS_PROGRAM)
    proc = subprocess.Popen([sys.executable, str(script), url, "1000", "0.2"],
                            env={**s3_env, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["flushed", "10"]
    assert proc.stdout.readline().split() == ["flushed", "20"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    import tftrace

    with tftrace.open(url) as trace:
        assert trace.status.status == "killed" and len(trace.events) >= 20
        for ev in trace.events:
            np.testing.assert_array_equal(trace.array(ev), _packed_value(int(ev.name[1:])))
