"""Writing status: a JSON merge patch of the status subresource, sent only if something changed."""

from __future__ import annotations

from typing import Any

from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON, Kind, KubeClient


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 patch turning `old` into `new` (None if they are equal); removed keys become null."""
    if old == new:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: JSON = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            sub = merge_patch(old[key], value)
            patch[key] = sub
    return patch


_TIMES = ("lastTransitionTime", "lastUpdateTime")


def keep_condition_times(old: list[JSON], new: list[JSON]) -> list[JSON]:
    """`new` conditions, with the timestamps of the `old` ones whose status, reason and message are the same.

    Reconcilers re-derive conditions on every pass (NumaFlow's InitConditions resets them to Unknown first);
    a condition that ends up as it was has not transitioned, so its time must not move.
    """
    by_type = {c.get("type"): c for c in old}
    out = []
    for cond in new:
        prev = by_type.get(cond.get("type"))
        if prev is not None and all(prev.get(k) == cond.get(k) for k in ("status", "reason", "message")):
            cond = {**cond, **{k: prev[k] for k in _TIMES if k in prev}}
        out.append(cond)
    return out


async def update_status(
    kube: KubeClient, kind: Kind, observed: JSON, status: JSON, informer: Informer | None = None
) -> bool:
    """Patch `status` onto the object unless it equals the observed object's status.

    Returns whether a write happened. With `informer`, the written object goes into its cache at once so
    the next reconcile does not write the same status again. Conditions keep their timestamps unless
    they changed (`keep_condition_times`).
    """
    old = observed.get("status") or {}
    if isinstance(status.get("conditions"), list):
        status = {
            **status,
            "conditions": keep_condition_times(old.get("conditions") or [], status["conditions"]),
        }
    patch = merge_patch(old, status)
    if patch is None or patch == {}:
        return False
    meta = observed["metadata"]
    written = await kube.patch(kind, meta.get("namespace"), meta["name"], {"status": patch}, sub="status")
    if informer is not None:
        informer.record_write(written)
    return True
