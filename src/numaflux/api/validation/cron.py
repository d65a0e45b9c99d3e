"""Six-field cron expressions (second minute hour day-of-month month day-of-week), as NumaFlow parses them."""

from __future__ import annotations

from dataclasses import dataclass

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)


@dataclass(frozen=True)
class CronField:
    values: frozenset[int]
    star: bool  # written as "*" or "?" (matters for day-of-month/day-of-week matching)


@dataclass(frozen=True)
class CronSpec:
    second: CronField
    minute: CronField
    hour: CronField
    dom: CronField
    month: CronField
    dow: CronField


class CronError(ValueError):
    """The expression does not parse; the message says which part is wrong."""


def _number(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        raise CronError(f"{field} field: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field} field: {value} is outside {low}-{high}")
    return value


def _part(text: str, field: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    range_text, _, step_text = text.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise CronError(f"{field} field: step {step_text!r} must be a positive number")
        step = int(step_text)
    star = range_text in ("*", "?")
    if star:
        start, end = low, high
    elif "-" in range_text:
        a, _, b = range_text.partition("-")
        start = _number(a, field, low, high, names)
        end = _number(b, field, low, high, names)
        if start > end:
            raise CronError(f"{field} field: range {range_text!r} is backwards")
    else:
        start = _number(range_text, field, low, high, names)
        end = high if step_text else start
    return set(range(start, end + 1, step)), star and not step_text


def parse_cron(expr: str) -> CronSpec:
    """Parse a six-field cron expression; raises CronError."""
    parts = expr.split()
    if len(parts) != len(_FIELDS):
        raise CronError(f"expected {len(_FIELDS)} fields (with seconds), found {len(parts)}")
    fields: list[CronField] = []
    for text, (field, low, high, names) in zip(parts, _FIELDS, strict=True):
        values: set[int] = set()
        star = False
        for item in text.split(","):
            if not item:
                raise CronError(f"{field} field: empty list item in {text!r}")
            got, item_star = _part(item, field, low, high, names)
            values |= got
            star = star or item_star
        fields.append(CronField(frozenset(values), star))
    return CronSpec(*fields)
