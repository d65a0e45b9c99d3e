"""Label and field selectors as accepted in `labelSelector=` / `fieldSelector=` query parameters.

Label selector terms (comma-separated, all must hold): `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
`k notin (a,b)`, `k` (exists), `!k` (does not exist), `k>n`, `k<n` (integer comparison).
Field selector terms: `path=v`, `path==v`, `path!=v`; a missing field compares as "".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from numaflux.apiserver.errors import ApiError, bad_request

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_TERM = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_CMP_TERM = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=|>|<)\s*(?P<value>[^,]*?)\s*$")
_EXISTS_TERM = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this term."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == ">" else number < bound


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a label selector string; an empty string selects everything."""
    requirements: list[Requirement] = []
    for term in _split_terms(text or ""):
        if match := _SET_TERM.match(term):
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["op"], values))
        elif match := _CMP_TERM.match(term):
            op = "=" if match["op"] == "==" else match["op"]
            if op in (">", "<") and not match["value"].lstrip("-").isdigit():
                raise bad_request(f"unable to parse requirement: {term!r}: value must be an integer")
            requirements.append(Requirement(match["key"], op, (match["value"],)))
        elif match := _EXISTS_TERM.match(term):
            requirements.append(Requirement(match["key"], "!exists" if match["neg"] else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {term!r} in labelSelector {text!r}")
    return requirements


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Whether all requirements hold for the labels."""
    actual = labels or {}
    return all(r.matches(actual) for r in requirements)


def selector_from_label_selector(selector: Mapping[str, Any] | None) -> str:
    """Render a meta/v1 LabelSelector (matchLabels/matchExpressions) as a selector string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector."""

    path: str
    negate: bool
    value: str


FieldGetter = Callable[[Mapping[str, Any]], str]


def parse_field_selector(text: str, allowed: Callable[[str], bool]) -> list[FieldRequirement]:
    """Parse a field selector, rejecting fields the resource does not support with 400."""
    requirements = []
    for term in _split_terms(text or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = term.split(op, 1)
                path = path.strip()
                if not allowed(path):
                    raise ApiError(
                        400, "BadRequest", f'field label not supported: "{path}" in fieldSelector {text!r}'
                    )
                requirements.append(FieldRequirement(path, op == "!=", value.strip()))
                break
        else:
            raise bad_request(f"invalid selector: {term!r}; can't understand {text!r}")
    return requirements


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value of a dotted field path ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
        if current is None:
            return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def fields_match(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    """Whether all field requirements hold for the object."""
    for requirement in requirements:
        equal = field_value(obj, requirement.path) == requirement.value
        if equal == requirement.negate:
            return False
    return True
