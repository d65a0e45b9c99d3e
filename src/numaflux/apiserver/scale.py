"""The autoscaling/v1 Scale subresource: maps an object's replica fields (built-in workloads, or a CRD's
specReplicasPath / statusReplicasPath / labelSelectorPath) to and from a Scale."""

from __future__ import annotations

from typing import Any

from numaflux.apiserver.core import Api, WriteOptions
from numaflux.apiserver.errors import conflict, field_cause, invalid, not_found
from numaflux.apiserver.resources import ResourceType
from numaflux.apiserver.selectors import selector_from_label_selector
from numaflux.apiserver.tables import evaluate
from numaflux.jsondata import clone

JSON = dict[str, Any]


def get_scale(api: Api, rt: ResourceType, namespace: str, name: str) -> JSON:
    """The autoscaling/v1 Scale of an object."""
    if rt.scale is None:
        raise not_found(f"{rt.plural}/scale", rt.group, name)
    obj = api.get(rt, namespace, name)
    return scale_of(rt, obj)


def scale_of(rt: ResourceType, obj: JSON) -> JSON:
    assert rt.scale is not None
    meta = obj["metadata"]
    spec_values = evaluate(obj, rt.scale.spec_replicas)
    status_values = evaluate(obj, rt.scale.status_replicas)
    status: JSON = {"replicas": int(status_values[0]) if status_values else 0}
    if rt.scale.label_selector is None:
        selector = selector_from_label_selector((obj.get("spec") or {}).get("selector"))
        if selector:
            status["selector"] = selector
    elif rt.scale.label_selector:
        found = evaluate(obj, rt.scale.label_selector)
        if found and found[0]:
            status["selector"] = str(found[0])
    scale_meta = {
        k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(spec_values[0]) if spec_values else 0},
        "status": status,
    }


def update_scale(
    api: Api, rt: ResourceType, namespace: str, name: str, scale: JSON, opts: WriteOptions
) -> JSON:
    """Set the replicas of an object through its Scale."""
    if rt.scale is None:
        raise not_found(f"{rt.plural}/scale", rt.group, name)
    current = api.get(rt, namespace, name)
    wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
        raise conflict(
            rt.plural,
            rt.group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid(
            "Scale",
            "autoscaling",
            name,
            [
                field_cause(
                    "spec.replicas",
                    "FieldValueInvalid",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            ],
        )
    new = clone(current)
    set_path(new, rt.scale.spec_replicas, replicas)
    updated = api.commit_update(rt, current, new, opts, "scale")
    return scale_of(rt, updated)


def set_path(obj: JSON, path: str, value: Any) -> None:
    """Set the field at a `.a.b.c` path, creating missing maps."""
    parts = [p for p in path.split(".") if p]
    target = obj
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
