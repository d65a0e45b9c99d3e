"""Creating and deleting pods with the result written through to the pod cache."""

from __future__ import annotations

import time
from datetime import datetime

from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON, POD, KubeClient, is_conflict, is_not_found
from numaflux.controller.ownership import is_pod_ready

CREATED_NS_ANNOTATION = "numaflux.io/created-ns"
"""Creation time in nanoseconds: creationTimestamp has one-second resolution, too coarse to tell which of
two pods created in the same second is newer (scale-down removes the newest)."""


async def create_pod(kube: KubeClient, pods: Informer, pod: JSON) -> JSON | None:
    """Create `pod`; None if its name is taken (the cache has not caught up yet, or a name clash)."""
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.setdefault(CREATED_NS_ANNOTATION, str(time.time_ns()))
    try:
        created = await kube.create(POD, pod)
    except Exception as err:
        if is_conflict(err):
            return None
        raise
    pods.record_write(created)
    return created


async def delete_pod(kube: KubeClient, pods: Informer, pod: JSON) -> None:
    """Delete exactly this pod (uid precondition); already gone counts as done."""
    meta = pod["metadata"]
    try:
        result = await kube.delete(POD, meta.get("namespace"), meta["name"], uid=meta.get("uid"))
    except Exception as err:
        if is_not_found(err) or is_conflict(err):
            pods.record_delete(pod)
            return
        raise
    if result.get("kind") == "Pod":
        pods.record_write(result)
    else:
        pods.record_delete(pod)


def ready_since(pod: JSON) -> datetime | None:
    """When the pod last became Ready (None if it is not ready)."""
    if not is_pod_ready(pod):
        return None
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("lastTransitionTime"):
            try:
                return datetime.fromisoformat(str(cond["lastTransitionTime"]).replace("Z", "+00:00"))
            except ValueError:
                return None
    return None


def is_available(pod: JSON, min_ready_seconds: float, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds`."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds
