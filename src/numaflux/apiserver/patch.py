"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge patch implements the merge rules kubectl relies on for built-in kinds:
lists of objects keyed by a merge key are merged element-wise; `metadata.finalizers` is merged as a
set of strings; every other list is replaced. Merge keys (by field name, with the parent deciding for
`ports`): containers / initContainers / ephemeralContainers / volumes / env / imagePullSecrets /
resourceClaims / schedulingGates → name; volumeMounts → mountPath; volumeDevices → devicePath;
container ports → containerPort; Service ports → port; conditions → type; hostAliases → ip;
ownerReferences → uid; topologySpreadConstraints → topologyKey.
Directives: `$patch: replace | delete | merge` (in maps and in list elements), `$retainKeys`,
`$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`.
Limits: no per-kind schema, so a field named like a keyed list elsewhere is merged the same way;
`$setElementOrder` orders the listed elements first and keeps unlisted ones after them; custom
resources do not accept strategic merge patch (415, as in Kubernetes).
"""

from __future__ import annotations

import copy
from typing import Any

from numaflux.apiserver.errors import ApiError, bad_request

JSON = dict[str, Any]

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
}
_PRIMITIVE_MERGE = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"json patch: invalid path {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise ApiError(422, "Invalid", f"json patch: path {path!r} does not exist")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, path, allow_end=False)]
        else:
            raise ApiError(422, "Invalid", f"json patch: path {path!r} does not exist")
    return doc


def _index(seq: list[Any], part: str, path: str, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(seq)
    if not part.isdigit():
        raise ApiError(422, "Invalid", f"json patch: invalid array index {part!r} in {path!r}")
    index = int(part)
    if index > len(seq) or (index == len(seq) and not allow_end):
        raise ApiError(422, "Invalid", f"json patch: index {index} out of range in {path!r}")
    return index


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), copy.deepcopy(value))
    else:
        raise ApiError(422, "Invalid", f"json patch: cannot add at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise ApiError(422, "Invalid", "json patch: cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ApiError(422, "Invalid", f"json patch: path {path!r} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise ApiError(422, "Invalid", f"json patch: cannot remove {path!r}")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 operations applied to a copy of doc."""
    if not isinstance(operations, list):
        raise bad_request("json patch: the body must be a list of operations")
    result = copy.deepcopy(doc)
    for number, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"json patch: operation {number} needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind == "add":
            result = _add(result, path, op.get("value"))
        elif kind == "remove":
            result, _ = _remove(result, path)
        elif kind == "replace":
            _resolve(result, _pointer(path), path)
            if _pointer(path):
                result, _ = _remove(result, path)
            result = _add(result, path, op.get("value"))
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = copy.deepcopy(_resolve(result, _pointer(source), source))
            if kind == "move":
                result, _ = _remove(result, source)
            result = _add(result, path, value)
        elif kind == "test":
            if _resolve(result, _pointer(path), path) != op.get("value"):
                raise ApiError(422, "Invalid", f"json patch: test failed at {path!r}")
        else:
            raise bad_request(f"json patch: unknown op {kind!r} in operation {number}")
    return result


def _merge_key(field: str, parent_path: tuple[str, ...]) -> str | None:
    if field == "ports":
        # Service spec ports are keyed by port; container ports by containerPort.
        return "port" if parent_path == ("spec",) else "containerPort"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to a copy of target."""
    return _smp(copy.deepcopy(target), patch, ())


def _smp(target: Any, patch: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    orders = {}
    deletions = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            deletions[key.split("/", 1)[1]] = value
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, key, path)
        elif isinstance(value, dict):
            merged = _smp(result.get(key), value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    for key, removed in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in removed]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(result[key], order, _merge_key(key, path))
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _reorder(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def ident(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    ranks = {repr(ident(o)): i for i, o in enumerate(order)}
    return sorted(items, key=lambda item: ranks.get(repr(ident(item)), len(ranks)))


def _merge_list(current: Any, patch: list[Any], field: str, path: tuple[str, ...]) -> list[Any]:
    existing = list(current) if isinstance(current, list) else []
    if field in _PRIMITIVE_MERGE:
        merged = list(existing)
        for value in patch:
            if isinstance(value, dict) and value.get("$patch") == "replace":
                return [v for v in patch if not isinstance(v, dict)]
            if value not in merged:
                merged.append(value)
        return merged
    key = _merge_key(field, path)
    if key is None or not all(isinstance(v, dict) for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    if any(v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if v.get("$patch") != "replace"]
    result = [copy.deepcopy(v) for v in existing]
    for item in patch:
        ident = item.get(key)
        index = next(
            (i for i, v in enumerate(result) if isinstance(v, dict) and v.get(key) == ident),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_smp({}, item, (*path, field)))
        else:
            result[index] = _smp(result[index], item, (*path, field))
    return result
