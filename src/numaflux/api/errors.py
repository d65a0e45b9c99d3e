"""Turn pydantic validation errors into NumaFlow-style field paths (``spec.vertices[1].scale.mni``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_TYPE_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


@dataclass(frozen=True)
class FieldError:
    """One problem in a document: where (``spec.vertices[1].scale.min``) and what, in plain words."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def render_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("spec", "vertices", 1, "scale")`` → ``spec.vertices[1].scale``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"unsupported value {err['input']!r}, must be one of {expected}"
    if kind == "value_error":
        ctx_error = (err.get("ctx") or {}).get("error")
        return str(ctx_error) if ctx_error is not None else err["msg"]
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    return err["msg"]


def _loc(err: ErrorDetails) -> list[int | str]:
    # Union members (``int | str``) and tagged branches add synthetic loc parts like "int" or "str";
    # keep only the parts that name real fields or indexes.
    return [p for p in err["loc"] if isinstance(p, int) or not p.startswith(("function-", "json-or-python"))]


def field_errors_from_pydantic(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Every error of ``exc`` as a FieldError, in document order.

    The failed alternatives of a union field (``int | str``) are folded into one message
    ("must be an integer or a string").
    """
    messages: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = _loc(err)
        # Union alternatives carry a trailing type tag in their loc; drop it.
        while loc and isinstance(loc[-1], str) and loc[-1] in _UNION_TAGS:
            loc = loc[:-1]
        path = render_path(loc, prefix)
        msg = _message(err)
        if msg not in messages.setdefault(path, []):
            messages[path].append(msg)
    return [FieldError(path, _join(msgs)) for path, msgs in messages.items()]


_UNION_TAGS = frozenset({"int", "str", "float", "bool", "none"})


def _join(messages: list[str]) -> str:
    if len(messages) > 1 and all(m.startswith("must be ") for m in messages):
        return "must be " + " or ".join(m.removeprefix("must be ") for m in messages)
    return "; ".join(messages)
