"""Collecting FieldErrors in the order the checks find them."""

from __future__ import annotations

from numaflux.api.duration import parse_duration_seconds
from numaflux.api.errors import FieldError


class Report:
    """An ordered list of FieldErrors under construction."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))


def seconds(value: str | None) -> float | None:
    """Seconds of a Go duration already checked by the model (None when unset)."""
    return None if value is None else parse_duration_seconds(value)


def quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)
