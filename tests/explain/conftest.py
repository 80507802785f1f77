"""Recordings of the port pair programs (port_pairs/), made once per test session (per
worker) and shared by the tests that diagnose them."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture(scope="session")
def port_pair(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """``port_pair(name, side, **options)``: the path of a recording of one side of a pair
    program ("a", "fault", "control", or any name with ``record_b`` options; ``again=True``
    for a second run), recorded on first use. B sides replay A's random values and initial weights, as a port test does."""
    made: dict[tuple[Any, ...], str] = {}
    root = tmp_path_factory.mktemp("port_pairs")

    def record(name: str, side: str = "a", **options: Any) -> str:
        key = (name, side, tuple(sorted(options.items())))
        if key not in made:
            module = importlib.import_module(f"port_pairs.{name}")
            path = str(Path(root) / f"{name}_{side}_{len(made)}.zarr")
            replay = options.pop("replay", getattr(module, "REPLAY", True))
            options.pop("again", None)  # a second recording of the same side
            if side == "a":
                made[key] = module.record_a(path, **options)
            else:
                options.setdefault("fault", side == "fault")
                source = record(name, "a") if replay else None
                made[key] = module.record_b(path, source=source, **options)
        return made[key]

    return record
