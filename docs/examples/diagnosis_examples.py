"""Print the diagnosis of every port pair in tests/explain/port_pairs (fault and control),
as docs/diagnosis.md shows it: the text report's diagnosis lines and one JSON entry.

    .venv/bin/python docs/examples/diagnosis_examples.py [PAIR...]

Records each pair in a temporary directory (A, B with the fault, B correct), then runs
``tftrace.diff`` as a user would. The environment pair runs two processes.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "explain"))

from port_pairs import common  # noqa: E402,F401  (environment before TensorFlow)

import tftrace  # noqa: E402
from tftrace.report.text import render_text  # noqa: E402

PAIRS = ["l2_halving", "cosine_offset", "cosine_sign", "nchw_flatten", "lagged_read", "stale_lr",
         "mixed_precision", "keep_prob", "grappler_norm", "training_flag", "cached_random",
         "new_variables", "missing_regularization", "bn_epsilon", "environment"]


def diagnosis_section(text: str) -> list[str]:
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if line.strip().startswith("diagnosis:") or line.startswith("Diagnosis ("):
            out = [line]
            for rest in lines[n + 1:]:
                if not rest.startswith("    " if line.startswith("  ") else "  "):
                    break
                out.append(rest)
            return out
    return ["(no diagnosis)"]


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or PAIRS:
            module = importlib.import_module(f"port_pairs.{name}")
            rename = getattr(module, "RENAME", ())
            replay = getattr(module, "REPLAY", True)
            a = module.record_a(f"{tmp}/{name}_a.zarr")
            for side, fault in (("fault", True), ("control", False)):
                b = module.record_b(f"{tmp}/{name}_{side}.zarr", source=a if replay else None, fault=fault)
                result = tftrace.diff(a, b, rename=rename)
                first = result.first_divergence
                where = f"{first.kind} {first.name!r} step {first.step}" if first else "none"
                print(f"== {name} ({side}): {result.verdict.upper()}, first divergence: {where}")
                for line in diagnosis_section(render_text(result)):
                    print(line)
                if side == "fault":
                    found = first.diagnosis if first else result.diagnosis
                    pitfalls = [d for d in found if d.is_pitfall]
                    if found:
                        print("JSON:", json.dumps((pitfalls or list(found))[0].to_dict()))
                print()


if __name__ == "__main__":
    main(sys.argv[1:])
