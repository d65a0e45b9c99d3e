"""Creating and updating child objects idempotently, detected by a hash of what the owner wants."""

from __future__ import annotations

from numaflux.api import constants as c
from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON, Kind, KubeClient, is_conflict
from numaflux.controller.ownership import stable_hash
from numaflux.jsondata import clone

CREATED = "created"
UPDATED = "updated"


def desired_hash(obj: JSON) -> str:
    """Hash over everything the owner sets (labels, annotations, spec, data)."""
    meta = obj.get("metadata") or {}
    relevant = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    relevant["labels"] = meta.get("labels") or {}
    relevant["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != c.KEY_HASH}
    return stable_hash(relevant, 16)


async def apply_child(kube: KubeClient, informer: Informer, kind: Kind, desired: JSON) -> str | None:
    """Create `desired` if missing, replace it if the owner's wish changed (hash annotation); else nothing.

    Returns CREATED, UPDATED or None. Server-filled fields (defaults, status) never count as changes.
    """
    desired = clone(desired)
    meta = desired.setdefault("metadata", {})
    wanted = desired_hash(desired)
    meta.setdefault("annotations", {})[c.KEY_HASH] = wanted
    key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])
    existing = informer.get(key)
    if existing is None:
        try:
            created = await kube.create(kind, desired)
        except Exception as err:
            if is_conflict(err):
                return None  # created before; the cache will show it shortly
            raise
        informer.record_write(created)
        return CREATED
    if (existing["metadata"].get("annotations") or {}).get(c.KEY_HASH) == wanted:
        return None
    updated = clone(existing)
    updated["metadata"]["labels"] = meta.get("labels") or {}
    updated["metadata"]["annotations"] = {
        **(existing["metadata"].get("annotations") or {}),
        **meta["annotations"],
    }
    updated["metadata"]["ownerReferences"] = meta.get("ownerReferences") or []
    for field, value in desired.items():
        if field not in ("metadata", "status", "apiVersion", "kind"):
            updated[field] = value
    informer.record_write(await kube.replace(kind, updated))
    return UPDATED
