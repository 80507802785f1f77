"""The committed sample traces (sample_traces/): each one loads with the current
reader, is complete and documented, and shows the finding it was made for.

Expected values are derived from the sample scripts' structure and data (numpy),
not copied from a report. See sample_traces/README.md for how each was made.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tftrace
from tests.sample_pairs import (MOVING_MEAN, MOVING_VARIANCE, assert_bn_pitfall_pair, assert_inception_pair_matches,
                          bn_pitfall, plain)
from tftrace.lint import check

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_traces"
TRACES = sorted(SAMPLE_DIR.glob("*.zarr.zip"))
MAX_BYTES = 5 * 1024 * 1024


def sample(name: str) -> Path:
    return SAMPLE_DIR / f"{name}.zarr.zip"


# -- every sample --------------------------------------------------------------------


def test_the_issue_samples_are_committed() -> None:
    names = {p.name.removesuffix(".zarr.zip") for p in TRACES}
    assert names >= {"inception_v2_session", "inception_v2_eager", "bn_pitfall_training_missing",
                     "bn_pitfall_training_true", "new_variables_per_call", "kernel_tanh_tf2.21", "kernel_tanh_tf2.15",
                     "inception_v2_session_tf2.15"}


@pytest.mark.parametrize("path", TRACES, ids=[p.name.removesuffix(".zarr.zip") for p in TRACES])
def test_sample_loads_complete_small_and_documented(path: Path) -> None:
    assert path.stat().st_size < MAX_BYTES
    readme = (SAMPLE_DIR / "README.md").read_text()
    assert f"`{path.name}`" in readme, f"{path.name} has no line in sample_traces/README.md"
    with tftrace.open(path) as trace:
        assert trace.complete
        assert trace.environment["seed"] == 42
        assert trace.environment["seed_mode"] == "num_random_ops"
        assert trace.environment["capture"] == "full"
        assert trace.events
        for ev in trace.events:  # every array reads back as its digest describes it
            if ev.array_key is None:
                continue
            array = trace.array(ev)
            assert array.shape == ev.shape and str(array.dtype) == ev.dtype, ev


# -- 1. tf-slim Inception v2: TF1 Session vs TF2 eager ----------------------------------


def test_inception_session_and_eager_samples_diff_equivalent() -> None:
    result = tftrace.diff(sample("inception_v2_session"), sample("inception_v2_eager"))
    assert result.equivalent, result.first_divergence
    assert_inception_pair_matches(sample("inception_v2_session"), sample("inception_v2_eager"))


# -- 2. the batch-norm pitfall ------------------------------------------------------------


def test_bn_pitfall_diff_first_diverges_at_the_moving_mean_in_step_1() -> None:
    result = tftrace.diff(sample("bn_pitfall_training_missing"), sample("bn_pitfall_training_true"))
    assert not result.equivalent
    first = result.first_divergence
    assert first is not None
    assert (first.kind, plain(first.name), first.step) == ("snapshot", MOVING_MEAN, 1)
    assert_bn_pitfall_pair(sample("bn_pitfall_training_missing"), sample("bn_pitfall_training_true"))


def test_check_reports_the_frozen_moving_statistics() -> None:
    found = check(sample("bn_pitfall_training_missing"))
    assert {f.code for f in found.findings} == {"frozen-non-trainable"}
    messages = " ".join(f.message for f in found.findings)
    assert len(found.findings) == 2
    assert repr(MOVING_MEAN) in messages and repr(MOVING_VARIANCE) in messages
    assert f"{list(range(bn_pitfall.STEPS + 1))}" in messages
    assert check(sample("bn_pitfall_training_true")).ok


# -- 3. new variables on every call -------------------------------------------------------


def test_check_flags_variables_created_after_the_first_call_with_index_and_site() -> None:
    script = ROOT / "samples" / "new_variables_per_call.py"
    source = script.read_text().splitlines()
    calls = int(re.findall(r"^CALLS = (\d+)$", "\n".join(source), re.MULTILINE)[0])
    # the lines of `call` that create a variable, and the names they give
    creations = [(number, re.findall(r'name="(\w+)"', line)[0])
                 for number, line in enumerate(source, start=1) if "tf.Variable(" in line]
    assert len(creations) == 2
    expected = {(f"broken_scaling_layer/{name}", call, f"new_variables_per_call.py:{number} in call")
                for call in range(1, calls) for number, name in creations}

    with tftrace.open(sample("new_variables_per_call")) as trace:
        by_seq = {ev.seq: ev for ev in trace.events}
        created = [ev.attrs["call_index"] for ev in trace.events if ev.kind == "variable"]
        assert created == [call for call in range(calls) for _ in creations]
        found = check(trace)
    assert {f.code for f in found.findings} == {"late-variable"}
    got = set()
    for finding in found.findings:
        (seq,) = finding.seqs
        ev = by_seq[seq]
        site = ev.attrs["call_site"].rsplit("/", 1)[-1]
        got.add((plain(ev.name), ev.attrs["call_index"], site))
        assert f"call #{ev.attrs['call_index']}" in finding.message
        assert site in finding.message
    assert got == expected


# -- 4. another TensorFlow version --------------------------------------------------------


def installed_tensorflow() -> str:
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise AssertionError("no TensorFlow distribution installed")


def test_tf215_sample_and_the_tf221_sample_recorded_on_the_same_machine_diff_equivalent() -> None:
    # Both archives were recorded on one machine: only the TensorFlow version differs.
    archived = sample("inception_v2_session_tf2.15")
    with tftrace.open(archived) as old, tftrace.open(sample("inception_v2_session")) as new:
        assert old.environment["tensorflow_version"] == "2.15.1"
        assert new.environment["tensorflow_version"] == "2.21.0"
        assert old.environment["host"] == new.environment["host"]
    result = tftrace.diff(archived, sample("inception_v2_session"))  # rtol=1e-6, atol=1e-5
    assert result.equivalent, result.first_divergence


#: A fresh recording runs on whatever CPU this is: its float kernels (oneDNN / Eigen paths
#: chosen by the instruction set, AVX2 vs AVX-512) may round differently from the machine
#: the archive was made on. Measured on an AVX2-only AMD EPYC against the archive (made on
#: another CPU): Conv2d_1a_7x7 max rel error 3.8e-4, Mixed_5c 1.3e-3, the loss 1.2e-5.
CROSS_MACHINE_TOLERANCE = {"rtol": 1e-2, "atol": 1e-3}


@pytest.mark.slow
def test_tf215_sample_and_a_fresh_recording_with_the_installed_tensorflow_agree(
        tmp_path: Path) -> None:
    fresh = tmp_path / "inception_v2_session.zarr"
    proc = subprocess.run([sys.executable, "samples/train_tf1.py", str(fresh), "slim_inception"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    archived = sample("inception_v2_session_tf2.15")
    with tftrace.open(archived) as old, tftrace.open(fresh) as new:
        assert old.environment["tensorflow_version"] == "2.15.1"
        assert new.environment["tensorflow_version"] == installed_tensorflow()
    # What no CPU changes: initial values and random values are bit-identical across the
    # versions (arrays, not digests: the digest scheme may differ between format versions).
    assert tftrace.diff(archived, fresh, only="variables,random").equivalent
    with tftrace.open(archived) as old, tftrace.open(fresh) as new:
        for kind in ("variable", "random_op"):
            events_old = [ev for ev in old.events if ev.kind == kind]
            events_new = [ev for ev in new.events if ev.kind == kind]
            assert [plain(ev.name) for ev in events_old] == [plain(ev.name) for ev in events_new]
            for ev_old, ev_new in zip(events_old, events_new):
                assert old.array(ev_old).tobytes() == new.array(ev_new).tobytes(), ev_old.name
    # Computation agrees within the cross-machine kernel drift.
    result = tftrace.diff(archived, fresh, **CROSS_MACHINE_TOLERANCE)
    assert result.equivalent, result.first_divergence
