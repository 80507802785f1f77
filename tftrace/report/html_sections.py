"""The static parts of the HTML report, and how trace strings are escaped in it.

The verdict, the first divergence (with its diagnosis when the result has one), the
summary and tolerance rules, and both environments side by side are plain HTML, so
they read without scripts. Everything is read from the result's dict form.
"""

from __future__ import annotations

import datetime
import html
import json
import unicodedata
from typing import Any, Iterable, Mapping

from tftrace.report.words import (KIND_LABELS, ignored_caption, in_summary, measure_sentence,
                                  near_miss_sentences, state_sentence)
from tftrace.report import html_data
from tftrace.report import verdict as verdict_words
from tftrace.report.html_traces import TraceExtras
from tftrace.report.text import STREAM_ADVICE, STRUCTURE_ADVICE, STRUCTURE_PROBLEMS

_ENV_VALUE_CHARS = 400  # an environment value longer than this is cut (it is untrusted input)


# -- escaping -------------------------------------------------------------------------

def shown(text: Any) -> str:
    """``text`` with control, format (bidi, zero-width) and separator characters as escapes.

    A name can hold anything; what the page shows must be what is there, not what those
    characters do (reorder text, hide it, break lines). Python escapes: ``\\x1b``,
    ``\\u202e``.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == " " or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn",
                                                              "Zl", "Zp"):
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def esc(text: Any) -> str:
    """Text for HTML: visible escapes for invisible characters, then entities."""
    return html.escape(shown(text), quote=True)


# -- static sections ------------------------------------------------------------------

_TONES = {"green": "ok", "yellow": "warn", "red": "bad"}


def verdict(document: Mapping[str, Any]) -> tuple[str, str]:
    """The verdict's words and tone; a report before version 2 has no ``verdict`` key."""
    code = document.get("verdict")
    if code in verdict_words.TITLES:
        return verdict_words.TITLES[code], _TONES[verdict_words.COLOURS[code]]
    if document.get("equivalent"):
        return "EQUIVALENT", "ok"
    if document.get("first_divergence") is None:
        return "NO DIVERGENCE, BUT A TRACE IS INCOMPLETE", "warn"
    return "DIVERGED", "bad"


def section(anchor: str, title: str, inner: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2>\n{inner}\n</section>'


def header(document: Mapping[str, Any]) -> str:
    word, tone = verdict(document)
    sides = []
    for label in ("a", "b"):
        info = document.get(label, {})
        extras = [f"tensorflow {esc(info['tensorflow'])}"] if info.get("tensorflow") else []
        extras.append(f"{info.get('events', 0)} events")
        if not info.get("complete", True):
            extras.append('<span class="tag warn">INCOMPLETE</span>')
        sides.append(f'<div><b>{label.upper()}</b> <code>{esc(info.get("path", ""))}</code> '
                     f'({", ".join(extras)})</div>')
    links = " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("first", "First divergence"), ("growth", "Error growth"), ("heatmap", "Where it starts"),
        ("pairs", "All pairs"), ("summary", "Summary and tolerances"),
        ("environments", "Environments")))
    return (f'<header><h1>tftrace diff: <span id="verdict" class="verdict {tone}">{word}</span>'
            f'</h1>\n<div class="sides">{"".join(sides)}</div>\n<nav>{links}</nav></header>')


def first_divergence(document: Mapping[str, Any]) -> str:
    first = document.get("first_divergence")
    parts = []
    if first is None:
        parts.append('<p class="note">No pair diverged.</p>' if document.get("equivalent")
                     else '<p class="note">No pair diverged, but this is not a pass.</p>')
        parts.extend(f'<p class="finding">{esc(reason)}</p>' for reason in verdict_words.document_reasons(document))
        parts.append(_diagnosis(document.get("diagnosis")))  # values close, not equal
    else:
        kind = first["kind"].replace("_", " ")
        title = (f'<span class="kind">{esc(kind)}</span> <code id="first-name">'
                 f'{esc(first["name"])}</code>')
        if first.get("name_b") and first["name_b"] != first["name"]:
            title += f' (B: <code>{esc(first["name_b"])}</code>)'
        title += f", step {first.get('step', 0)}"
        if first.get("occurrence"):
            title += f", occurrence {first['occurrence']}"
        parts.append(f'<h3 class="first-title">{title}</h3>')
        parts.append(_facts(first))
        parts.append(_diagnosis(first.get("diagnosis")))
        parts.append(_advice(first, document))
    for gap in document.get("random_gaps", []):
        parts.append(f'<p class="finding">Random ops: {esc(_gap_sentence(gap))}</p>')
    for rule in document.get("suggested_renames", []):
        rename = f"{rule['pattern']}={rule['replacement']}"
        parts.append('<p class="finding">Suggested rename: many variable names differ by one '
                     f'prefix; try <code>--rename {esc(_quote(rename))}</code></p>')
    miss = document.get("near_miss")
    if isinstance(miss, Mapping):
        tolerance = document.get("tolerance", {})
        first_line, *rest = near_miss_sentences(miss, tolerance.get("rtol", 0.0), tolerance.get("atol", 0.0))
        parts.append(f'<p class="finding" id="near-miss">{esc(first_line)}'
                     + "".join(f"<br>{esc(line)}" for line in rest) + "</p>")
    for note in document.get("notes", []):
        parts.append(f'<p class="note">Note: {esc(note)}</p>')
    if document.get("stopped_early"):
        parts.append('<p class="note">Stopped at the first divergence (<code>--first</code>): '
                     'later values were not compared.</p>')
    return section("first", "First divergence", "\n".join(p for p in parts if p))


def _facts(first: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str]] = []

    def seq(v: Any) -> str:
        return "-" if v is None else f"#{v}"

    rows.append(("sequence", f"A {seq(first.get('seq_a'))}, B {seq(first.get('seq_b'))}"))
    state = state_sentence(first)
    if state is not None:
        rows.append(("optimizer state", esc(state)))
    if first.get("random_index_a") is not None or first.get("random_index_b") is not None:
        rows.append(("random op", f"A {_side_op(first, 'a')}, B {_side_op(first, 'b')}"))
    rows.append(("shape and dtype", f"A {_side_array(first, 'a')}, B {_side_array(first, 'b')}"))
    values = first.get("values")
    dtype = first.get("dtype_a")
    if isinstance(values, Mapping) and first.get("problem") in ("values", "nan_inf"):
        size, bad = values.get("size", 0), values.get("mismatched", 0)
        percent = 100.0 * bad / size if size else 0.0
        rows.append(("mismatched elements", f"{bad} / {size} ({percent:.3g}%)"))
        if values.get("nan_mismatched") or values.get("inf_mismatched"):
            rows.append(("NaN / Inf", f"NaN at different positions: {values.get('nan_mismatched')}; "
                                      f"Inf not matched: {values.get('inf_mismatched')}"))
        for key, label in (("max_abs_error", "max absolute difference"),
                           ("max_rel_error", "max relative difference")):
            if values.get(key):
                rows.append((label, esc(_at(values[key], dtype))))
        if values.get("mismatches"):
            rows.append(("first mismatched elements", "<br>".join(
                esc(f"{_index(m['index'])}: A {_value(m['a'], dtype)}, B {_value(m['b'], dtype)}")
                for m in values["mismatches"])))
        if values.get("max_ulp") is not None:
            rows.append(("max ULP distance", str(values["max_ulp"])))
        measure = measure_sentence(values)
        if measure is not None:
            rows.append(("whole-array measure", esc(measure)))
    else:
        rows.append(("problem", esc(first.get("message", ""))))
    rows.append(("call site A", f'<code>{esc(first.get("call_site_a") or "-")}</code>'))
    rows.append(("call site B", f'<code>{esc(first.get("call_site_b") or "-")}</code>'))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _diagnosis(diagnosis: Any) -> str:
    """``first_divergence.diagnosis``: a list of ``{code, message, evidence}``, when present."""
    if not isinstance(diagnosis, list) or not diagnosis:
        return ""
    items = []
    for entry in diagnosis:
        if not isinstance(entry, Mapping):
            continue
        evidence = entry.get("evidence")
        shown_evidence = ""
        if isinstance(evidence, Mapping):
            shown_evidence = "<dl>" + "".join(
                f"<dt>{esc(k)}</dt><dd>{esc(_evidence(v))}</dd>" for k, v in evidence.items()) + "</dl>"
        elif evidence is not None:
            shown_evidence = f"<div>{esc(_evidence(evidence))}</div>"
        items.append(f'<li><span class="tag">{esc(entry.get("code", ""))}</span> '
                     f'{esc(entry.get("message", ""))}{shown_evidence}</li>')
    return f'<div id="diagnosis"><h3>Diagnosis</h3><ul>{"".join(items)}</ul></div>'


def _evidence(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _advice(first: Mapping[str, Any], document: Mapping[str, Any]) -> str:
    stream = document.get("broken_stream")
    if stream not in STREAM_ADVICE:
        return f'<p class="advice"><b>Broke first:</b> {esc(stream)}</p>' if stream else ""
    advice = STREAM_ADVICE[stream]
    if first.get("problem") in STRUCTURE_PROBLEMS and stream in STRUCTURE_ADVICE:
        advice = STRUCTURE_ADVICE[stream]
    elif stream == "computation" and not document.get("inputs_compared", True):
        advice = ("computation (but variables and random values were not compared, so the "
                  "inputs may already differ: drop --only to check them).")
    return f'<p class="advice"><b>Broke first:</b> {esc(advice)}</p>'


def summary(document: Mapping[str, Any]) -> str:
    columns = ["compared", "equal", "close", "diverged", "missing", "extra", "skipped"]
    ignored = any(s.get("ignored_a") or s.get("ignored_b") for s in document.get("summary", []))
    columns += ["ignored_a", "ignored_b"] if ignored else []
    labels = html_data.kind_labels(html_data.kind_order(document), KIND_LABELS)
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = []
    for s in document.get("summary", []):
        if not in_summary(s):
            continue
        cells = "".join(f'<td class="{c if s.get(c) and c not in ("compared", "equal") else ""}">'
                        f"{s.get(c, 0)}</td>" for c in columns)
        rows.append(f"<tr><th>{esc(labels.get(s['kind'], s['kind']))}</th>{cells}</tr>")
    tolerance = document.get("tolerance", {})
    rules = [f"<tr><td>every name</td><td>{_g(tolerance.get('rtol'))}</td>"
             f"<td>{_g(tolerance.get('atol'))}</td><td>elementwise</td></tr>"]
    for rule in tolerance.get("overrides", []):
        measure = (f"{esc(rule['measure'])} ≤ {_g(rule.get('limit'))}" if rule.get("measure")
                   else "elementwise")
        rules.append(f"<tr><td><code>{esc(rule['glob'])}</code></td><td>{_g(rule['rtol'])}</td>"
                     f"<td>{_g(rule['atol'])}</td><td>{measure}</td></tr>")
    renames = "".join(f"<li><code>{esc(r['pattern'])}</code> → <code>{esc(r['replacement'])}"
                      f"</code></li>" for r in document.get("rename", []))
    return section("summary", "Summary and tolerances", (
        '<table class="summary"><caption>Pairs per kind (close: within tolerance, not equal'
        + (f"; {esc(ignored_caption(document.get('ignore', [])))}" if ignored else "") + ")"
        f"</caption><tr><th>kind</th>{head}</tr>{''.join(rows)}</table>\n"
        + (f"<p>Compared only names matching "
           f"{', '.join(f'<code>{esc(g)}</code>' for g in document['only_names'])}</p>\n"
           if document.get("only_names") else "") +
        '<table class="tolerances"><caption>Tolerance rules: floats match when |a − b| ≤ atol '
        "+ rtol·|a| (A is the reference); integers, bools and strings compare exactly; the "
        "last matching rule wins; a whole-array measure (norm_relative: ||B − A|| / ||A||, "
        "cosine: 1 − cos) passes a pair too when within its limit</caption>"
        "<tr><th>names</th><th>rtol</th><th>atol</th><th>measure</th></tr>"
        f"{''.join(rules)}</table>"
        + (f"<p>Renamed in B: <ul>{renames}</ul></p>" if renames else "")))


def environments(document: Mapping[str, Any], extras: TraceExtras) -> str:
    info = [document.get("a", {}), document.get("b", {})]
    rows: list[tuple[str, Any, Any]] = [
        ("path", info[0].get("path"), info[1].get("path")),
        ("complete", info[0].get("complete"), info[1].get("complete")),
        ("events", info[0].get("events"), info[1].get("events"))]
    env_a, env_b = extras.environments
    if env_a is None and env_b is None:
        for key in ("tensorflow", "host", "replay"):
            rows.append((key, info[0].get(key), info[1].get(key)))
    else:
        flat_a, flat_b = _flatten(env_a or {}), _flatten(env_b or {})
        for key in list(flat_a) + [k for k in flat_b if k not in flat_a]:
            rows.append((key, flat_a.get(key, _ABSENT), flat_b.get(key, _ABSENT)))
    body = []
    differing = 0
    for key, a, b in rows:
        differs = _env_text(a) != _env_text(b)
        differing += differs
        body.append(f'<tr class="{"differs" if differs else ""}"><th>{esc(key)}</th>'
                    f"<td>{esc(_env_text(a))}</td><td>{esc(_env_text(b))}</td></tr>")
    problems = "".join(f'<p class="note">Not read from the traces: {esc(p)}</p>'
                       for p in extras.problems)
    return section("environments", "Environments", (
        f'<p class="caption">{differing} of {len(rows)} entries differ (highlighted).</p>'
        f'<table class="environments"><tr><th></th><th>A</th><th>B</th></tr>{"".join(body)}'
        f"</table>{problems}"))


_ABSENT = object()


def _flatten(env: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _env_text(value: Any) -> str:
    if value is _ABSENT:
        return "—"
    if isinstance(value, (list, tuple)):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, float) and 1e9 < value < 1e10:  # a Unix time: start_time, end_time
        text = datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(
            timespec="seconds") + f" ({value:.3f})"
    else:
        text = str(value)
    return text if len(text) <= _ENV_VALUE_CHARS else (
        text[:_ENV_VALUE_CHARS] + f"… ({len(text) - _ENV_VALUE_CHARS} more characters)")


# -- formatting (the text report's, for the dict form) ---------------------------------

def _gap_sentence(gap: Mapping[str, Any]) -> str:
    """The text report's sentence (text.gap_sentence) from the gap's dict, which has no call site."""
    ops = ", ".join(f"{op} {_shape(shape)}" for op, shape in zip(gap.get("op_types", []),
                                                                  gap.get("shapes", [])))
    count = len(gap.get("seqs", []))
    seq = gap["seqs"][0] if gap.get("seqs") else "?"
    if gap.get("side") == "b":
        what = f"B has an extra {ops}" if count == 1 else f"B has {count} extra random ops ({ops})"
        where = f" at #{gap.get('index')} (seq {seq})"
    else:
        what = f"B is missing A's {ops}" if count == 1 else f"B is missing {count} of A's random ops ({ops})"
        where = f" at A's #{gap.get('index')} (seq {seq})"
    shifted, offset = gap.get("shifted", 0), abs(gap.get("offset", 0))
    shift = {1: "one", 2: "two", 3: "three"}.get(offset, str(offset))
    if shifted == 0:
        after = "no random ops pair up after it"
    else:
        after = (f"the {shifted} random op{'s' if shifted != 1 else ''} after it "
                 f"{'are' if shifted != 1 else 'is'} shifted by {shift}")
    return f"{what}{where}; {after}."


def _side_op(pair: Mapping[str, Any], side: str) -> str:
    index = pair.get(f"random_index_{side}")
    return "-" if index is None else f"#{index} {esc(pair.get(f'op_type_{side}'))}"


def _side_array(pair: Mapping[str, Any], side: str) -> str:
    shape, dtype = pair.get(f"shape_{side}"), pair.get(f"dtype_{side}")
    return "-" if shape is None and dtype is None else f"{_shape(shape)} {esc(dtype)}"


def _shape(shape: Iterable[int] | None) -> str:
    return "-" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def _index(index: Iterable[int]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def _at(element: Mapping[str, Any], dtype: str | None) -> str:
    return (f"{_value(element.get('error'), None)} at {_index(element.get('index', []))} "
            f"(A {_value(element.get('a'), dtype)}, B {_value(element.get('b'), dtype)})")


def _value(value: Any, dtype: str | None) -> str:
    """An element as the text report writes it (9 significant digits; strings quoted)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, str):
        return repr(value) if dtype == "string" else value  # else "nan", "inf", "-inf"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and len(value) == 2:
        return f"({_value(value[0], None)}{'+' if not str(_value(value[1], None)).startswith('-') else ''}" \
               f"{_value(value[1], None)}j)"
    return f"{value:.9g}"


def _g(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
