"""Reading tccli's prose for the page: one line of plain text, named choices, typed example values.

The spec's descriptions are HTML-ish fragments (``<p>``, ``<li>``, links); the page shows one
line of plain text. A string member's choices are offered as suggestions when its description
names them after "Valid values" / "Value range" / "Values" (upper-case names such as ``TCP`` or
``LEAST_CONN``); they are hints, never enforced here: the gateway and the handlers decide.
"""

from __future__ import annotations

import html
import re
from typing import Any

MAX_LINE = 400
_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_CHOICE_INTRO = re.compile(r"(valid values?|value range|values|options|protocol)\s*(?:include|are|is)?\s*:", re.I)
_NAME = re.compile(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def one_line(text: str) -> str:
    """Plain text on one line, at most ``MAX_LINE`` characters."""
    plain = html.unescape(_TAG.sub(" ", _LINK.sub(r"\1", text or "")))
    plain = " ".join(plain.split())
    return plain if len(plain) <= MAX_LINE else plain[: MAX_LINE - 1].rstrip() + "…"


def first_line(text: str) -> str:
    """The first line of a description (an action's summary sentence), as plain text."""
    return one_line((text or "").strip().split("\n", 1)[0])


def choices(text: str) -> list[str]:
    """Upper-case value names listed after a "Valid values:"-style phrase, in order, once each."""
    plain = one_line(text)
    found: list[str] = []
    for match in _CHOICE_INTRO.finditer(plain):
        sentence = re.split(r"\.(?:\s|$)", plain[match.end():], maxsplit=1)[0]
        for name in _NAME.findall(sentence):
            if name not in found and name not in ("ID", "IP", "API", "CLB", "VPC"):
                found.append(name)
    return found


def typed(kind: str, value: str) -> Any:
    """A flat example value as the member's kind (int, float, bool, or the string itself)."""
    try:
        if kind in ("int64", "uint64"):
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError:
        return value
    if kind == "bool":
        return value.lower() in ("true", "1")
    return value
