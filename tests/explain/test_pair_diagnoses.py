"""Each diverging pair's own diagnosis with `diff --all` (bounded), and `--no-diagnosis`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import tftrace
from tftrace.cli import cli


def record(path, fault: bool) -> str:
    """Three endpoints: B's first is 2x A's (the first divergence), its second A's + 1, its
    third -A's."""
    x = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    y = np.cos(x * 3.0).astype(np.float32)
    with tftrace.record(path, layers="off", gradients="off") as rec:
        import tensorflow as tf

        rec.endpoint("hidden", tf.constant(x) * (2.0 if fault else 1.0))
        rec.endpoint("logits", tf.constant(y) + (1.0 if fault else 0.0))
        rec.endpoint("scores", tf.constant(y) * (-1.0 if fault else 1.0))
    return str(path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    return record(root / "a.zarr", False), record(root / "b.zarr", True)


def pairs_by_name(document):
    return {p["name"]: p for p in document["pairs"]}


def test_all_diagnoses_each_diverging_pair(pair):
    run = CliRunner().invoke(cli, ["diff", *pair, "--all", "--format", "json"])
    assert run.exit_code == 1, run.output
    document = json.loads(run.output)
    assert document["first_divergence"]["name"] == "hidden"
    pairs = pairs_by_name(document)
    assert [d["code"] for d in pairs["hidden"]["diagnosis"]] == ["scaled"]
    (offset,) = pairs["logits"]["diagnosis"]
    assert offset["code"] == "offset" and offset["evidence"]["c"] == pytest.approx(1.0)


def test_without_all_only_the_first_divergence_has_one(pair):
    document = json.loads(CliRunner().invoke(cli, ["diff", *pair, "--format", "json"]).output)
    assert pairs_by_name(document)["logits"]["diagnosis"] == []
    assert [d["code"] for d in document["first_divergence"]["diagnosis"]] == ["scaled"]


def test_all_text_lists_the_diagnosis_under_its_pair(pair):
    run = CliRunner().invoke(cli, ["diff", *pair, "--all"])
    lines = run.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  ") and "'logits'" in line
              and i > lines.index("All pairs:"))
    assert lines[at + 1] == "      offset: B = A + 1 (at endpoint 'logits' step 0)"


def test_the_limit_is_said_in_a_note(pair):
    result = tftrace.diff(*pair, explain_pairs=0)
    assert not any(p.diagnosis for p in result.pairs if p.name == "logits")
    from tftrace.compare.divergence import diff

    capped = diff(*pair, explain_pairs=1)
    assert [d.code for p in capped.pairs if p.name == "logits" for d in p.diagnosis] == ["offset"]
    assert not [d for p in capped.pairs if p.name == "scores" for d in p.diagnosis]
    assert capped.notes == ("1 diverging pair after the first 1 diagnosed has no diagnosis of its "
                            "own (each diagnosis reads the pair's values again)",)
    full = diff(*pair, explain_pairs=32)
    assert [d.code for p in full.pairs if p.name == "scores" for d in p.diagnosis] == ["sign-flip"]
    assert not [n for n in full.notes if "no diagnosis of its own" in n]


def test_no_diagnosis_leaves_it_out(pair):
    with_diagnosis = CliRunner().invoke(cli, ["diff", *pair])
    without = CliRunner().invoke(cli, ["diff", *pair, "--no-diagnosis"])
    assert with_diagnosis.exit_code == without.exit_code == 1
    assert "    scaled: B = 2 * A (at endpoint 'hidden' step 0)" in with_diagnosis.output
    assert "diagnosis:" not in without.output
