"""Kubernetes resource quantities ("500m", "1Gi", "2e3") as exact fractions."""

from __future__ import annotations

import math
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1)}
_DECIMAL.update({"k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9)})
_DECIMAL.update({"T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18)})


def parse_quantity(text: str | int | float) -> Fraction:
    """Value of a quantity; raises ValueError naming the text when it is not one."""
    if isinstance(text, int | float):
        return Fraction(text)
    raw = text.strip()
    for suffix, factor in _BINARY.items():
        if raw.endswith(suffix):
            return _number(raw[: -len(suffix)], text) * factor
    if raw and raw[-1] in _DECIMAL and not raw[-1].isdigit():
        return _number(raw[:-1], text) * _DECIMAL[raw[-1]]
    return _number(raw, text)


def _number(digits: str, original: str | int | float) -> Fraction:
    try:
        return Fraction(digits)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"invalid quantity {original!r}") from None


def ceil_divide(value: Fraction, divisor: Fraction) -> int:
    """What a resourceFieldRef reports: the value in units of `divisor`, rounded up."""
    return math.ceil(value / divisor)
