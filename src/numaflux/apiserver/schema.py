"""CRD structural schemas: defaulting, pruning and validation of custom objects.

Supported keywords: type (object, array, string, integer, number, boolean), properties, required,
additionalProperties (bool or schema), items, enum, nullable, default, minimum/maximum (+exclusive),
minLength/maxLength, pattern, minItems/maxItems, uniqueItems, minProperties/maxProperties,
x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string, x-kubernetes-embedded-resource,
allOf/anyOf/oneOf/not (validation only, as in structural schemas). Not evaluated: format, and
x-kubernetes-validations (CEL rules) — they are accepted and ignored.

At the root, apiVersion, kind and metadata are always kept; metadata is never pruned.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from numaflux.apiserver.errors import JSON, field_cause

_TYPE_NAMES = {
    "object": "object",
    "array": "array",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def apply_defaults(value: Any, schema: JSON) -> None:
    """Fill in `default`s of absent properties, recursively, in place."""
    if isinstance(value, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                apply_defaults(value[name], prop)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in (schema.get("properties") or {}):
                    apply_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])


def prune(value: Any, schema: JSON, path: str = "", unknown: list[str] | None = None) -> Any:
    """Drop fields the schema does not specify (unless preserved); record their paths in `unknown`."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
            return value
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        embedded = schema.get("x-kubernetes-embedded-resource", False)
        out = {}
        for name, item in value.items():
            child = f"{path}.{name}" if path else name
            if name in props:
                out[name] = prune(item, props[name], child, unknown)
            elif isinstance(extra, dict):
                out[name] = prune(item, extra, child, unknown)
            elif (
                extra is True
                or schema.get("x-kubernetes-preserve-unknown-fields")
                or (embedded and name in ("apiVersion", "kind", "metadata"))
            ):
                out[name] = item
            elif unknown is not None:
                unknown.append(child)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"], f"{path}[{i}]", unknown) for i, item in enumerate(value)]
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)


def validate(value: Any, schema: JSON, path: str = "") -> list[JSON]:
    """Status causes for every violation of the schema (empty when valid)."""
    causes: list[JSON] = []
    _validate(value, schema, path, causes)
    return causes


def _invalid(causes: list[JSON], path: str, value: Any, message: str) -> None:
    causes.append(field_cause(path, "FieldValueInvalid", f"Invalid value: {_show(value)}: {message}"))


def _validate(value: Any, schema: JSON, path: str, causes: list[JSON]) -> None:
    where = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            _invalid(causes, where, value, f'{where} in body must be of type {schema["type"]}: "null"')
        return
    declared = schema.get("type")
    actual = _type_of(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            _invalid(causes, where, value, f"{where} in body must be of type integer or string: {actual!r}")
            return
    elif (
        declared in _TYPE_NAMES and not (declared == "number" and actual == "integer") and declared != actual
    ):
        causes.append(
            field_cause(
                where,
                "FieldValueTypeInvalid",
                f'Invalid value: "{actual}": {where} in body must be of type {declared}: "{actual}"',
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_show(v) for v in schema["enum"])
        causes.append(
            field_cause(
                where,
                "FieldValueNotSupported",
                f"Unsupported value: {_show(value)}: supported values: {allowed}",
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") is True and value == low):
                _invalid(causes, where, value, f"{where} in body should be greater than or equal to {low}")
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") is True and value == high):
                _invalid(causes, where, value, f"{where} in body should be less than or equal to {high}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            _invalid(
                causes, where, value, f"{where} in body should be at least {schema['minLength']} chars long"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                field_cause(
                    where, "FieldValueTooLong", f"Too long: may not be more than {schema['maxLength']} bytes"
                )
            )
        if "pattern" in schema and not re.search(schema["pattern"], value):
            _invalid(causes, where, value, f"{where} in body should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            _invalid(causes, where, value, f"{where} in body should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                field_cause(
                    where,
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            causes.append(field_cause(where, "FieldValueDuplicate", "Duplicate value"))
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _validate(item, items, f"{path}[{i}]", causes)
    if isinstance(value, dict):
        for name in schema.get("required") or []:
            if name not in value:
                child = f"{path}.{name}" if path else name
                causes.append(field_cause(child, "FieldValueRequired", "Required value"))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            _invalid(
                causes,
                where,
                value,
                f"{where} in body should have at least {schema['minProperties']} properties",
            )
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            _invalid(
                causes,
                where,
                value,
                f"{where} in body should have at most {schema['maxProperties']} properties",
            )
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            child = f"{path}.{name}" if path else name
            if name in props:
                _validate(item, props[name], child, causes)
            elif isinstance(extra, dict):
                _validate(item, extra, child, causes)
    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, causes)
    if schema.get("anyOf") and not any(not validate(value, s, path) for s in schema["anyOf"]):
        _invalid(causes, where, value, f"{where} in body must match at least one schema in anyOf")
    if schema.get("oneOf"):
        matching = sum(1 for s in schema["oneOf"] if not validate(value, s, path))
        if matching != 1:
            _invalid(causes, where, value, f"{where} in body must match exactly one schema in oneOf")
    if isinstance(schema.get("not"), dict) and not validate(value, schema["not"], path):
        _invalid(causes, where, value, f"{where} in body must not match the schema in not")


def admit(obj: JSON, schema: JSON | None) -> tuple[JSON, list[JSON], list[str]]:
    """Default, prune and validate a custom object: (result, causes, pruned field paths)."""
    if not schema:
        return obj, [], []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    apply_defaults(body, schema)
    unknown: list[str] = []
    pruned = prune(body, schema, "", unknown)
    causes = validate(
        pruned,
        {
            **schema,
            "required": [
                r for r in schema.get("required") or [] if r not in ("apiVersion", "kind", "metadata")
            ],
        },
    )
    result = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": obj.get("metadata", {}),
    }
    result.update(pruned)
    return result, causes, unknown
