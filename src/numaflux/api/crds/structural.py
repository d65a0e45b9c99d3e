"""Turn a pydantic model's JSON schema into a Kubernetes *structural* OpenAPI v3 schema.

Kubernetes accepts only structural schemas in CRDs: no ``$ref``, a ``type`` on every node (or
``x-kubernetes-int-or-string`` / ``x-kubernetes-preserve-unknown-fields``), no ``additionalProperties``
next to ``properties`` and never ``additionalProperties: false``. The rules applied here:

- ``$ref``s are inlined; a model reached again inside itself becomes a preserve-unknown object.
- ``X | None`` becomes ``X`` with ``nullable: true`` (not for enums: Kubernetes checks ``null`` against
  the enum, so there a null is left to pruning, which drops it).
- ``int | str`` becomes ``x-kubernetes-int-or-string: true``; any other union is an error.
- ``dict[str, Any]`` (the embedded Kubernetes types) becomes ``type: object`` +
  ``x-kubernetes-preserve-unknown-fields``; ``Any`` becomes a preserve-unknown node without a type.
- Defaults and titles are dropped (numaflux applies defaults in getters); descriptions are cut to
  their first paragraph.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JSON = dict[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"

_SCALARS = frozenset({"string", "integer", "number", "boolean"})
# Keywords with the same meaning in JSON Schema 2020-12 and in Kubernetes' OpenAPI v3 subset.
_PASS_THROUGH = (
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
_IGNORED = frozenset({"title", "default", "examples", "$defs", "format"})
_HANDLED = frozenset(
    {
        "$ref",
        "anyOf",
        "allOf",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "description",
        "exclusiveMinimum",
        "exclusiveMaximum",
        *_PASS_THROUGH,
    }
)
_MAX_DESCRIPTION = 200


class SchemaConversionError(ValueError):
    """A model uses a schema construct that has no structural equivalent; the message names where."""


def preserve_unknown_object(description: str | None = None) -> JSON:
    """An object whose content Kubernetes keeps as it is (embedded Kubernetes types, cut recursion)."""
    out: JSON = {"type": "object", PRESERVE: True}
    if description:
        out["description"] = description
    return out


def short_description(text: str) -> str:
    """The first sentence of a docstring on one line, RST double backticks made single, at most 200 chars."""
    para = text.strip().split("\n\n", 1)[0]
    line = " ".join(part.strip() for part in para.splitlines()).replace("``", "`")
    end = line.find(". ")
    if end > 0:
        line = line[: end + 1]
    if len(line) > _MAX_DESCRIPTION:
        line = line[: _MAX_DESCRIPTION - 1].rstrip() + "…"
    return line


def structural_schema(model: type[BaseModel]) -> JSON:
    """The structural OpenAPI v3 schema of ``model`` (JSON names, by alias)."""
    raw = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    return _Converter(raw.get("$defs", {})).convert(raw, "", ())


class _Converter:
    def __init__(self, defs: dict[str, JSON]) -> None:
        self.defs = defs

    def convert(self, node: JSON, path: str, stack: tuple[str, ...]) -> JSON:
        unknown = set(node) - _HANDLED - _IGNORED
        if unknown:
            raise SchemaConversionError(
                f"{path or '<root>'}: unsupported schema keyword(s) {sorted(unknown)}"
            )
        if "$ref" in node:
            out = self._ref(node["$ref"], path, stack)
        elif "anyOf" in node:
            out = self._union(node["anyOf"], path, stack)
        elif "allOf" in node:
            if len(node["allOf"]) != 1:
                raise SchemaConversionError(f"{path or '<root>'}: allOf with several members")
            out = self.convert(node["allOf"][0], path, stack)
        elif "const" in node:
            out = {"type": _json_type(node["const"], path), "enum": [node["const"]]}
        else:
            out = self._typed(node, path, stack)
        if "description" in node:
            out["description"] = short_description(node["description"])
        return _ordered(out)

    def _ref(self, ref: str, path: str, stack: tuple[str, ...]) -> JSON:
        name = ref.rsplit("/", 1)[-1]
        if name not in self.defs:
            raise SchemaConversionError(f"{path or '<root>'}: unresolved reference {ref!r}")
        target = self.defs[name]
        if name in stack:
            # Kubernetes schemas cannot be recursive: below the first occurrence the content is kept as is.
            desc = target.get("description")
            return preserve_unknown_object(short_description(desc) if desc else None)
        return self.convert(target, path, (*stack, name))

    def _union(self, members: list[JSON], path: str, stack: tuple[str, ...]) -> JSON:
        nullable = any(m.get("type") == "null" for m in members)
        rest = [m for m in members if m.get("type") != "null"]
        if len(rest) == 1:
            out = self.convert(rest[0], path, stack)
        elif sorted(m.get("type", "") for m in rest) == ["integer", "string"] and all(
            set(m) <= {"type"} for m in rest
        ):
            out = {INT_OR_STRING: True}
        else:
            raise SchemaConversionError(f"{path or '<root>'}: union {rest} has no structural form")
        if nullable and "enum" not in out:
            out["nullable"] = True
        return out

    def _typed(self, node: JSON, path: str, stack: tuple[str, ...]) -> JSON:
        kind = node.get("type")
        if kind is None:
            if set(node) - _IGNORED - {"description"}:
                raise SchemaConversionError(f"{path or '<root>'}: schema without a type: {node}")
            return {PRESERVE: True}  # Any
        if kind == "object":
            return self._object(node, path, stack)
        if kind == "array":
            items = node.get("items") or {}
            out: JSON = {"type": "array", "items": self.convert(items, f"{path}[]", stack)}
            _copy_checks(node, out)
            return out
        if kind in _SCALARS:
            out = {"type": kind}
            if "enum" in node:
                out["enum"] = list(node["enum"])
            _copy_checks(node, out)
            return out
        raise SchemaConversionError(f"{path or '<root>'}: unsupported type {kind!r}")

    def _object(self, node: JSON, path: str, stack: tuple[str, ...]) -> JSON:
        props: dict[str, JSON] = node.get("properties") or {}
        extra = node.get("additionalProperties")
        out: JSON = {"type": "object"}
        if props:
            out["properties"] = {
                name: self.convert(sub, f"{path}.{name}" if path else name, stack)
                for name, sub in props.items()
            }
            if node.get("required"):
                out["required"] = list(node["required"])
            if extra is True or isinstance(extra, dict):
                out[PRESERVE] = True  # an open model (extra="allow"): keep what it does not name
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = self.convert(extra, f"{path}.*", stack)
        elif extra is not False:
            out[PRESERVE] = True  # dict[str, Any]: an embedded Kubernetes type
        _copy_checks(node, out)
        return out


def _copy_checks(node: JSON, out: JSON) -> None:
    for key in _PASS_THROUGH:
        if key in node:
            out[key] = node[key]
    # JSON Schema 2020-12 has numeric exclusive bounds; OpenAPI v3.0 has a boolean beside minimum/maximum.
    if "exclusiveMinimum" in node:
        out["minimum"] = node["exclusiveMinimum"]
        out["exclusiveMinimum"] = True
    if "exclusiveMaximum" in node:
        out["maximum"] = node["exclusiveMaximum"]
        out["exclusiveMaximum"] = True


def _json_type(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise SchemaConversionError(f"{path or '<root>'}: const {value!r} is not a scalar")


_KEY_ORDER = ("description", "type", INT_OR_STRING, "nullable", "enum", "default", "required")


def _ordered(node: JSON) -> JSON:
    """Stable, readable key order (description and type first, properties last)."""
    head = {k: node[k] for k in _KEY_ORDER if k in node}
    tail = {k: v for k, v in node.items() if k not in head and k != "properties"}
    out = {**head, **tail}
    if "properties" in node:
        out["properties"] = node["properties"]
    return out
