"""Report goldens: the JSON, text and JUnit reports of fixed trace pairs, and `check`'s.

The committed sample pairs and a set of scenario pairs written with the writer are
diffed and checked; every rendering is compared with the golden file of the same name
in ``goldens/``. The goldens were written by the renderers as they were before the
wording moved to ``report/`` (issue 12), so the test proves the move changed no byte.
They were regenerated once on purpose since, when the diff report gained its diagnosis
(report version 3: ``diagnosis`` keys and lines, nothing else changed).
Regenerate only on purpose: ``python tests/report/golden_reports.py --regenerate``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tftrace.compare.divergence import diff
from tftrace.lint import check
from tftrace.report.check import render_check_json, render_check_text
from tftrace.report.json import render_json
from tftrace.report.junit import render_junit
from tftrace.report.text import render_text

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = Path(__file__).resolve().parent / "goldens"
SAMPLES = ROOT / "sample_traces"

SAMPLE_PAIRS = {
    "inception-session-vs-eager": ("inception_v2_session", "inception_v2_eager"),
    "inception-tf215-vs-tf221": ("inception_v2_session_tf2.15", "inception_v2_session"),
    "bn-pitfall": ("bn_pitfall_training_true", "bn_pitfall_training_missing"),
    "new-variables-per-call": ("new_variables_per_call", "new_variables_per_call"),
}


def scenario_pairs(build: Any) -> dict[str, tuple[list[Any], list[Any], dict[str, Any], dict[str, Any]]]:
    """name -> (events A, events B, diff options, write options); ``build`` has ev/var/rnd/weights."""
    ev, var, rnd, weights = build.ev, build.var, build.rnd, build.weights
    changed = weights()
    kernel = changed[0]["value"].copy()
    kernel[2, 1] += 0.25
    changed[0] = var("dense/kernel:0", kernel)
    renamed = [dict(e, name="model/" + e["name"]) if e["kind"] == "variable" else e for e in weights()]
    ops = [rnd("RandomUniform", (3,), seed=s) if s % 2 else rnd("RandomStandardNormal", (2,), seed=s)
           for s in range(8)]
    x = np.arange(6, dtype=np.float32)
    later = weights()
    later[0] = var("dense/kernel:0", later[0]["value"] + 1)
    later[2] = ev("endpoint", "logits", later[2]["value"] + 1)
    env_a = {"cpu": {"model": "Intel Xeon", "flags": ["avx", "avx2", "avx512f", "fma"]},
             "kernels": {"onednn": True, "intra_op_threads": 0}}
    env_b = {"cpu": {"model": "AMD EPYC", "flags": ["avx", "avx2", "fma"]},
             "kernels": {"onednn": False, "intra_op_threads": 0}}
    gap = {"not_captured": [{"kind": "endpoint", "name": "logits", "reason": "xla", "detail": "",
                             "count": 2, "function": "step", "call_site": "run.py:3"}]}
    return {
        "identical": (weights(), weights(), {}, {}),
        "one-element": (weights(), changed, {}, {}),
        "shape": ([var("w", np.zeros((2, 3), np.float32))], [var("w", np.zeros((3, 2), np.float32))], {}, {}),
        "missing-extra": ([var("x", [1.0]), var("y", [2.0])], [var("x", [1.0]), var("z", [2.0])], {}, {}),
        "renamed": (weights(), renamed, {}, {}),
        "renamed-fixed": (weights(), renamed, {"rename": ["^model/="]}, {}),
        "random-inserted": (ops, ops[:4] + [rnd("RandomUniform", (128, 10), seed=99)] + ops[4:], {}, {}),
        "random-op-type": ([rnd("RandomUniform", (3,), seed=1)], [rnd("RandomStandardNormal", (3,), seed=1)], {}, {}),
        "nan": ([ev("endpoint", "loss", np.array([1.0, np.nan, 3.0], np.float32))],
                [ev("endpoint", "loss", np.array([np.nan, 2.0, 3.0], np.float32))], {}, {}),
        "int-string": ([ev("endpoint", "ids", np.array([1, 2, 3], np.int32)),
                        ev("endpoint", "tokens", np.array([b"a", b"b"], dtype=object))],
                       [ev("endpoint", "ids", np.array([1, 2, 4], np.int32)),
                        ev("endpoint", "tokens", np.array([b"a", b"c"], dtype=object))], {"atol": 10.0}, {}),
        "incomplete": (weights() + [ev("endpoint", "loss", np.float32(1.0), step=1)], weights()[:2], {},
                       {"b": {"complete": False}}),
        "incomplete-allowed": (weights(), weights()[:2], {"allow_incomplete": True}, {"b": {"complete": False}}),
        "stats": ([var("w", x)], [var("w", x[::-1].copy())], {}, {"a": {"capture": "stats"}, "b": {"capture": "stats"}}),
        "stats-differ": ([var("w", x)], [var("w", x + 1)], {}, {"a": {"capture": "stats"}, "b": {"capture": "stats"}}),
        "stop-at-first": (weights(), later, {"stop_at_first": True}, {}),
        "close": ([ev("endpoint", "grads/w", np.ones(4, np.float32)), ev("endpoint", "loss", np.ones(4, np.float32))],
                  [ev("endpoint", "grads/w", np.ones(4, np.float32) + 1e-3),
                   ev("endpoint", "loss", np.ones(4, np.float32) + 1e-3)], {"tolerances": {"grads/*": (1e-2, 0.0)}}, {}),
        "trainable": ([var("bn/mean", [0.0], trainable=False)], [var("bn/mean", [0.0], trainable=True)], {}, {}),
        "machines": (weights(), weights(), {}, {"a": {"environment": env_a}, "b": {"environment": env_b}}),
        "capture-gap": (weights(), weights()[:2], {}, {"b": {"environment": gap}}),
        "only-endpoints": (weights(), later, {"only": "endpoints"}, {}),
        "nothing-compared": ([var("x", [1.0])], [ev("endpoint", "y", np.float32(1))], {"only": "endpoints"}, {}),
    }


def check_scenarios(build: Any) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    ev, var, rnd = build.ev, build.var, build.rnd
    same = np.array([0.3, -0.1, 0.7], np.float32)
    return {
        "clean": ([var("w", [1.0, 2.0]), var("b", [0.0, 0.0]), var("b2", [0.0, 0.0])], {}),
        "findings": ([var("w", [1.0], call_index=0), var("w2", [2.0], call_index=1),
                      var("a/w", same), var("b/w", same.copy()),
                      var("kernel", [1.0]), var("bn/moving_mean", [0.0], trainable=False),
                      ev("snapshot", "kernel", np.array([0.9]), step=1),
                      ev("snapshot", "bn/moving_mean", np.array([0.0]), step=1),
                      ev("snapshot", "kernel", np.array([0.8]), step=2),
                      ev("snapshot", "bn/moving_mean", np.array([0.0]), step=2),
                      ev("endpoint", "loss", np.array([np.nan, np.inf, 1.0]))]
                     + [rnd("RandomUniform", (4,), seed=7)] * 7, {}),
        "incomplete": ([var("w", [1.0])], {"complete": False,
                                            "environment": {"not_captured": [
                                                {"kind": "variable", "name": "v", "reason": "no-initial-value",
                                                 "detail": "recorded without a value", "count": 3}]}}),
    }


def renderings(build: Any, workdir: Path) -> Iterator[tuple[str, str]]:
    """(golden file name, text) for every report this module checks."""
    for name, (a, b) in SAMPLE_PAIRS.items():
        path_a, path_b = SAMPLES / f"{a}.zarr.zip", SAMPLES / f"{b}.zarr.zip"
        result = diff(path_a, path_b)
        yield from _diff_reports(f"sample-{name}", result, {str(path_a): "<A>", str(path_b): "<B>"})
    for name in sorted({s for pair in SAMPLE_PAIRS.values() for s in pair}):
        path = SAMPLES / f"{name}.zarr.zip"
        yield from _check_reports(f"sample-{name}", check(path), {str(path): "<TRACE>"})
    for name, (events_a, events_b, options, writes) in scenario_pairs(build).items():
        path_a = build.write_trace(workdir / f"{name}-a.zarr", events_a, **writes.get("a", {}))
        path_b = build.write_trace(workdir / f"{name}-b.zarr", events_b, **writes.get("b", {}))
        yield from _diff_reports(f"scenario-{name}", diff(path_a, path_b, **options),
                                 {str(path_a): "<A>", str(path_b): "<B>"})
    for name, (events, writes) in check_scenarios(build).items():
        path = build.write_trace(workdir / f"check-{name}.zarr", events, **writes)
        yield from _check_reports(f"check-{name}", check(path), {str(path): "<TRACE>"})


def _diff_reports(stem: str, result: Any, paths: dict[str, str]) -> Iterator[tuple[str, str]]:
    yield f"{stem}.json", _placed(render_json(result), paths)
    yield f"{stem}.txt", _placed(render_text(result, show_all=True), paths)
    yield f"{stem}.junit.xml", _placed(render_junit(result), paths)


def _check_reports(stem: str, result: Any, paths: dict[str, str]) -> Iterator[tuple[str, str]]:
    yield f"{stem}.check.json", _placed(render_check_json(result), paths)
    yield f"{stem}.check.txt", _placed(render_check_text(result), paths)


def _placed(text: str, paths: dict[str, str]) -> str:
    for path, placeholder in sorted(paths.items(), key=lambda item: -len(item[0])):
        text = text.replace(path, placeholder)
    return text


#: Renderings longer than this are kept as their SHA-256 (in ``goldens/digests.json``), not as text.
MAX_GOLDEN_CHARS = 32_000


def compare_with_goldens(build: Any, workdir: Path) -> dict[str, str]:
    """Renderings that differ from their golden (or have none): name -> the rendering."""
    digests = json.loads((GOLDENS / "digests.json").read_text(encoding="utf-8"))
    differing = {}
    for name, text in renderings(build, workdir):
        if name in digests:
            same = hashlib.sha256(text.encode("utf-8")).hexdigest() == digests[name]
        else:
            golden = GOLDENS / name
            same = golden.exists() and golden.read_text(encoding="utf-8") == text
        if not same:
            differing[name] = text
    return differing


def write_goldens(build: Any, workdir: Path) -> int:
    GOLDENS.mkdir(exist_ok=True)
    digests = {}
    for name, text in renderings(build, workdir):
        if len(text) > MAX_GOLDEN_CHARS:
            digests[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        else:
            (GOLDENS / name).write_text(text, encoding="utf-8")
    (GOLDENS / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return len(digests)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--regenerate", action="store_true", help="rewrite the goldens")
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.error("expected --regenerate (the test compares; this script only rewrites)")
    import tempfile

    sys.path.insert(0, str(ROOT))  # run as a script: the tests package, from the checkout
    from tests import conftest

    with tempfile.TemporaryDirectory() as tmp:
        write_goldens(conftest.TraceBuilders(), Path(tmp))
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
