"""Go-style duration strings (``"1s"``, ``"500ms"``, ``"1m30s"``, ``"72h"``), as metav1.Duration accepts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_seconds(text: str) -> float:
    """Parse a Go duration string into seconds; raises ValueError naming the bad input."""
    s = text.strip()
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string into a timedelta."""
    return timedelta(seconds=parse_duration_seconds(text))


def _check(value: str) -> str:
    parse_duration_seconds(value)
    return value


# A duration field keeps the user's string (for exact round trips); it only has to parse.
Duration = Annotated[str, AfterValidator(_check)]
