"""Server-side apply (`application/apply-patch+yaml`), simplified.

The applied configuration is merged into the live object (strategic-merge rules for built-in kinds,
JSON-merge rules — lists replaced — for custom resources). Each manager's applied fields are recorded
in `metadata.managedFields` (FieldsV1); a field the same manager applied before and no longer applies
is removed unless another manager's entry also lists it. Limits: conflicts between managers are not
detected (every apply behaves as `force=true`), and ownership inside lists is tracked per keyed
element only (lists of scalars are atomic).
"""

from __future__ import annotations

import json
from typing import Any

JSON = dict[str, Any]

_LIST_KEYS = ("name", "containerPort", "port", "mountPath", "type", "uid", "ip", "devicePath", "topologyKey")


def _list_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _LIST_KEYS:
        if all(key in i for i in items):
            return key
    return None


def fields_v1(value: Any) -> JSON:
    """The FieldsV1 set of the fields present in value."""
    out: JSON = {}
    if not isinstance(value, dict):
        return out
    for key, item in value.items():
        if key == "metadata" and isinstance(item, dict):
            meta = {
                k: v
                for k, v in item.items()
                if k in ("labels", "annotations", "finalizers", "ownerReferences")
            }
            if meta:
                out["f:metadata"] = fields_v1(meta)
            continue
        if isinstance(item, dict):
            out[f"f:{key}"] = fields_v1(item) if item else {}
        elif isinstance(item, list):
            list_key = _list_key(item)
            if list_key is None:
                out[f"f:{key}"] = {}
            else:
                entries: JSON = {".": {}}
                for element in item:
                    ident = json.dumps({list_key: element[list_key]}, separators=(",", ":"))
                    entries[f"k:{ident}"] = {".": {}, **fields_v1(element)}
                out[f"f:{key}"] = entries
        else:
            out[f"f:{key}"] = {}
    return out


def _leaf_paths(fields: JSON, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths: set[tuple[str, ...]] = set()
    for key, child in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        if isinstance(child, dict) and any(k.startswith("f:") for k in child):
            paths |= _leaf_paths(child, path)
        else:
            paths.add(path)
    return paths


def removed_fields(previous: JSON | None, applied: JSON, others: list[JSON]) -> list[tuple[str, ...]]:
    """Map-field paths the manager applied before, no longer applies, and nobody else manages."""
    if not previous:
        return []
    before = _leaf_paths(previous)
    now = _leaf_paths(fields_v1(applied))
    kept: set[tuple[str, ...]] = set()
    for other in others:
        kept |= _leaf_paths(other)
    return sorted(p for p in before - now if p not in kept and not any(p[: len(q)] == q for q in now))


def drop_path(obj: JSON, path: tuple[str, ...]) -> None:
    """Delete a nested map field if present."""
    target: Any = obj
    for part in path[:-1]:
        if not isinstance(target, dict) or part not in target:
            return
        target = target[part]
    if isinstance(target, dict):
        target.pop(path[-1], None)
