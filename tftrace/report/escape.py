"""Make text from a trace safe to print: no control sequence reaches a terminal or a report.

A trace is untrusted input, and every string in it (names, op types, call sites,
versions, environment keys and values, digests) can hold bytes that a terminal
obeys: ESC/CSI sequences that move the cursor, rewrite earlier lines or set the
window title, C1 controls, NUL, and Unicode bidirectional overrides that make text
read differently from what it is. Renderers pass their whole output through
:func:`safe_text`, which replaces each such character with a visible escape
(``\\x1b``, ``\\u202e``); the result is also valid XML 1.0 text.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks; line and
#: paragraph separators; BOM / zero-width no-break space; surrogates; U+FFFE/U+FFFF
#: (not allowed in XML). The newline is kept by :func:`safe_text`, escaped by :func:`safe_line`.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ufeff\ud800-\udfff\ufffe\uffff]")
_UNSAFE_KEEP_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                                  "\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_line(text: str) -> str:
    """``text`` as one printable line: every unsafe character (newline too) escaped."""
    return _UNSAFE.sub(_escape, text)


def safe_text(text: str) -> str:
    """``text`` with every unsafe character escaped, its newlines kept."""
    return _UNSAFE_KEEP_NEWLINE.sub(_escape, text)


def json_safe(obj: Any) -> Any:
    """Make metadata strict-JSON clean: non-finite floats and bytes become strings.

    (``json.dumps`` escapes control characters in strings itself.)
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8", "backslashreplace")
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
