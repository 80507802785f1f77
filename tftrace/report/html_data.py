"""The numbers the HTML report draws, built from the result's plain dict.

Everything is read from ``DiffResult.to_dict()`` (docs/report-schema.md), never from
the result classes, so that a kind this version does not know (``layer``, ``op``,
``gradient``...) is drawn like an endpoint and a status it does not know like a
divergence. The page data is columnar (one list per pair, a shared string table) to
keep a 10,000-pair report small; assets/report.js draws it. Nested values are tested
with ``isinstance(x, dict)``: the document is JSON-shaped, and ``Mapping`` checks cost
a second over 10,000 pairs.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from tftrace.compare.result import STATUSES

#: The heatmap has at most this many rows (names) and columns (steps); beyond, runs of
#: consecutive names (steps) share one row (column) and show the worst of them.
MAX_HEATMAP_ROWS = 400
MAX_HEATMAP_COLUMNS = 300
#: Columns of ``pairs`` in the page data (report.js reads them by position).
PAIR_COLUMNS = ("kind", "name", "name_b", "status", "step", "occurrence", "seq_a", "seq_b",
                "max_abs", "max_rel", "mismatched", "size", "detail")
#: Columns of ``details`` (what a click on a row shows, beyond the table's columns).
DETAIL_COLUMNS = ("shape_a", "shape_b", "dtype_a", "dtype_b", "problem", "message",
                  "compared_by", "tolerance", "call_site_a", "call_site_b", "op_type_a",
                  "op_type_b", "random_index_a", "random_index_b", "values")
#: How bad a status is, to pick the worst one of a merged heatmap cell.
_SEVERITY = {"equal": 0, "skipped": 1, "close": 2, "missing": 4, "extra": 4, "diverged": 5}


class StringTable:
    """Each distinct string once; the page refers to strings by index (-1 for None)."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: Any) -> int:
        if text is None:
            return -1
        text = str(text)
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self.strings)
            self.strings.append(text)
        return index


def number(value: Any) -> Any:
    """A report number for the page: 9 significant digits (the text report's), non-finite as text."""
    if type(value) is float:  # the common case first: called for every error and statistic
        if value - value == 0.0:  # finite
            return float("%.9g" % value)
    elif value is None or isinstance(value, (bool, str, int)):
        return value
    elif isinstance(value, (list, tuple)):  # complex as [re, im]
        return [number(v) for v in value]
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float("%.9g" % value)


def error_of(values: Mapping[str, Any] | None, key: str) -> Any:
    """``values[key]["error"]`` (``max_abs_error`` / ``max_rel_error``), or None."""
    element = (values or {}).get(key)
    return number(element.get("error")) if isinstance(element, dict) else None


def kind_order(document: Mapping[str, Any]) -> list[str]:
    """The compared kinds, then any other kind the pairs hold, in order of appearance."""
    kinds = [str(k) for k in document.get("kinds", [])]
    for pair in document.get("pairs", []):
        if pair["kind"] not in kinds:
            kinds.append(pair["kind"])
    return kinds


def status_order(document: Mapping[str, Any]) -> list[str]:
    statuses = list(STATUSES)
    for pair in document.get("pairs", []):
        if pair["status"] not in statuses:
            statuses.append(pair["status"])
    return statuses


def pair_tables(document: Mapping[str, Any], strings: StringTable, kinds: Sequence[str],
                statuses: Sequence[str]) -> tuple[list[list[Any]], list[list[Any]]]:
    """``(pairs, details)``: one row per pair in A's recording order (``PAIR_COLUMNS``), and
    the details of each (``DETAIL_COLUMNS``); equal pairs share one detail row when they
    agree on everything but the values."""
    rows: list[list[Any]] = []
    details: list[list[Any]] = []
    seen: dict[str, int] = {}
    for pair in document.get("pairs", []):
        values = pair.get("values")
        shown_values = None
        if isinstance(values, dict) and not values.get("identical"):
            shown_values = _values(values)
        tolerance = pair.get("tolerance")
        # the message of a value comparison repeats its numbers, which the page shows anyway
        message = None if shown_values is not None else pair.get("message")
        detail = [strings(_shape(pair.get("shape_a"))), strings(_shape(pair.get("shape_b"))),
                  strings(pair.get("dtype_a")), strings(pair.get("dtype_b")),
                  strings(pair.get("problem")), strings(message),
                  strings(pair.get("compared_by")),
                  [number(tolerance["rtol"]), number(tolerance["atol"])] if tolerance else None,
                  strings(pair.get("call_site_a")), strings(pair.get("call_site_b")),
                  strings(pair.get("op_type_a")), strings(pair.get("op_type_b")),
                  pair.get("random_index_a"), pair.get("random_index_b"), shown_values]
        # many equal pairs have the same detail: store it once (pairs with values differ anyway)
        key = repr(detail) if shown_values is None else None
        index = seen.get(key) if key is not None else None
        if index is None:
            index = len(details)
            details.append(detail)
            if key is not None:
                seen[key] = index
        size = values.get("size") if isinstance(values, dict) else None
        mismatched = values.get("mismatched") if isinstance(values, dict) else None
        rows.append([kinds.index(pair["kind"]), strings(pair["name"]),
                     strings(pair.get("name_b")) if pair.get("name_b") != pair["name"] else -1,
                     statuses.index(pair["status"]), pair.get("step", 0), pair.get("occurrence", 0),
                     _int(pair.get("seq_a")), _int(pair.get("seq_b")),
                     error_of(values, "max_abs_error"), error_of(values, "max_rel_error"),
                     _int(mismatched), _int(size), index])
    return rows, details


#: A value comparison in the page: ``[size, mismatched, exact, max_ulp, nan_mismatched,
#: inf_mismatched, max_abs_error, max_rel_error, mismatches]``, each element
#: ``[index, a, b, error]`` (keys once here, not once per pair).
VALUE_FIELDS = ("size", "mismatched", "exact", "max_ulp", "nan_mismatched", "inf_mismatched",
                "max_abs_error", "max_rel_error", "mismatches")


def _values(values: Mapping[str, Any]) -> list[Any]:
    def element(e: Any) -> Any:
        if not isinstance(e, dict):
            return None
        return [e.get("index"), number(e.get("a")), number(e.get("b")), number(e.get("error"))]

    return [values.get("size"), values.get("mismatched"), int(bool(values.get("exact"))),
            values.get("max_ulp"), values.get("nan_mismatched", 0), values.get("inf_mismatched", 0),
            element(values.get("max_abs_error")), element(values.get("max_rel_error")),
            [element(e) for e in values.get("mismatches", [])]]


def _shape(shape: Any) -> str | None:
    return None if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _int(value: Any) -> int:
    return -1 if value is None else int(value)


# -- error growth ---------------------------------------------------------------------

def error_series(document: Mapping[str, Any], kinds: Sequence[str]) -> list[dict[str, Any]]:
    """Per kind with an error or a divergence: the max absolute and relative error per step.

    Errors are maxima over the kind's pairs at each step, over finite values; a step
    whose pairs are all equal has 0, which a log axis cannot show (``None``). Infinite
    relative errors (A is 0 where B is not) are counted per step, not drawn.
    """
    out = []
    for kind in kinds:
        pairs = [p for p in document.get("pairs", []) if p["kind"] == kind]
        steps = sorted({int(p.get("step", 0)) for p in pairs})
        interesting = any(_diverged(p) for p in pairs) or any(
            _positive(error_of(p.get("values"), "max_abs_error")) for p in pairs)
        if not steps or not interesting:
            continue
        column = {step: i for i, step in enumerate(steps)}
        max_abs: list[float | None] = [None] * len(steps)
        max_rel: list[float | None] = [None] * len(steps)
        rel_infinite = [0] * len(steps)
        diverged = [0] * len(steps)
        for pair in pairs:
            i = column[int(pair.get("step", 0))]
            diverged[i] += _diverged(pair)
            for key, series in (("max_abs_error", max_abs), ("max_rel_error", max_rel)):
                error = error_of(pair.get("values"), key)
                if _positive(error) and error != "inf":
                    series[i] = max(series[i] or 0.0, error)
                elif key == "max_rel_error" and error == "inf":
                    rel_infinite[i] += 1
        out.append({"kind": kind, "steps": steps, "max_abs": max_abs, "max_rel": max_rel,
                    "rel_infinite": rel_infinite, "diverged": diverged})
    return out


def _positive(error: Any) -> bool:
    return error == "inf" or (isinstance(error, (int, float)) and not isinstance(error, bool)
                              and error > 0)


def _diverged(pair: Mapping[str, Any]) -> bool:
    return pair["status"] not in ("equal", "close", "skipped")


# -- where it starts ------------------------------------------------------------------

def heatmap(document: Mapping[str, Any], strings: StringTable, kinds: Sequence[str],
            statuses: Sequence[str], max_rows: int = MAX_HEATMAP_ROWS,
            max_columns: int = MAX_HEATMAP_COLUMNS) -> dict[str, Any]:
    """Relative error per (name, step): names in A's recording order down, steps across.

    A row is one (kind, name) at the position of its first pair; a cell is the worst
    status of its pairs and their largest relative error (``"inf"`` when A is 0 where
    B is not). More than ``max_rows`` names (``max_columns`` steps) are merged in runs
    of ``names_per_row`` (``steps_per_column``) consecutive ones.
    """
    pairs = document.get("pairs", [])
    names: dict[tuple[str, str], int] = {}
    for pair in pairs:
        names.setdefault((pair["kind"], pair["name"]), len(names))
    steps = sorted({int(p.get("step", 0)) for p in pairs})
    names_per_row = max(1, math.ceil(len(names) / max_rows))
    steps_per_column = max(1, math.ceil(len(steps) / max_columns))
    step_column = {step: i // steps_per_column for i, step in enumerate(steps)}
    cells: dict[tuple[int, int], list[Any]] = {}  # (row, column) -> [status, rel, pair index]
    first = document.get("first_divergence")
    first_cell = None
    for index, pair in enumerate(pairs):
        row = names[(pair["kind"], pair["name"])] // names_per_row
        cell = (row, step_column[int(pair.get("step", 0))])
        status = pair["status"]
        rel = error_of(pair.get("values"), "max_rel_error")
        if first is not None and first_cell is None and _same_pair(pair, first):
            first_cell = cell
        held = cells.get(cell)
        if held is None:
            cells[cell] = [status, rel, index]
            continue
        if _SEVERITY.get(status, 5) > _SEVERITY.get(held[0], 5):
            held[0], held[2] = status, index
        held[1] = _larger(held[1], rel)
    keys = list(names)
    rows = []
    for start in range(0, len(keys), names_per_row):
        run = keys[start:start + names_per_row]
        rows.append([kinds.index(run[0][0]), strings(run[0][1]), len(run),
                     kinds.index(run[-1][0]), strings(run[-1][1])])
    columns = [[steps[i], steps[min(i + steps_per_column, len(steps)) - 1]]
               for i in range(0, len(steps), steps_per_column)]
    ordered = sorted(cells.items())
    return {"rows": rows, "columns": columns, "names": len(keys), "steps": len(steps),
            "names_per_row": names_per_row, "steps_per_column": steps_per_column,
            "cells": [[r, c, statuses.index(v[0]), v[1], v[2]] for (r, c), v in ordered],
            "first": list(first_cell) if first_cell is not None else None}


def _same_pair(pair: Mapping[str, Any], first: Mapping[str, Any]) -> bool:
    return all(pair.get(k) == first.get(k) for k in ("kind", "name", "step", "occurrence",
                                                      "seq_a", "seq_b"))


def _larger(x: Any, y: Any) -> Any:
    if x is None or y == "inf":
        return y if y is not None else x
    if y is None or x == "inf" or isinstance(y, str) or isinstance(x, str):
        return x
    return max(x, y)


def first_index(document: Mapping[str, Any]) -> int:
    """Position of the first divergence in ``pairs`` (-1 when there is none)."""
    first = document.get("first_divergence")
    if first is None:
        return -1
    for index, pair in enumerate(document.get("pairs", [])):
        if _same_pair(pair, first):
            return index
    return -1


def kind_labels(kinds: Iterable[str], known: Mapping[str, str]) -> dict[str, str]:
    """The report's word for each kind; an unknown kind ``gradient`` reads ``gradient events``."""
    return {k: known.get(k, f"{k.replace('_', ' ')} events") for k in kinds}
