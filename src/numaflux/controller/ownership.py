"""ownerReferences and the pods a workload owns."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from typing import Any

from numaflux.controller.cache import INDEX_OWNER_UID, controller_ref
from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Kubernetes' alphabet for generated name parts (no vowels, no look-alikes)."""


def owner_reference(owner: JSON) -> JSON:
    """A controller ownerReference to `owner` that blocks its foreground deletion."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_controlled_by(obj: JSON, owner: JSON) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def owned(informer: Informer, owner: JSON) -> list[JSON]:
    """Cached objects whose controller is `owner` (matched by uid), sorted by name."""
    uid = str(owner["metadata"].get("uid"))
    return [o for o in informer.store.by_index(INDEX_OWNER_UID, uid) if is_controlled_by(o, owner)]


def stable_hash(value: Any, length: int = 10) -> str:
    """A deterministic short hash of JSON-able `value` in SAFE_ALPHABET (same input → same name)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).digest()
    number = int.from_bytes(digest[:12], "big")
    out = []
    for _ in range(length):
        number, index = divmod(number, len(SAFE_ALPHABET))
        out.append(SAFE_ALPHABET[index])
    return "".join(out)


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(length))


def pod_from_template(owner: JSON, template: JSON, name: str, labels: dict[str, str]) -> JSON:
    """A Pod for `owner` from its pod template, named `name`, with extra `labels`."""
    meta = copy.deepcopy(template.get("metadata") or {})
    meta["name"] = name
    meta["namespace"] = owner["metadata"].get("namespace")
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["ownerReferences"] = [owner_reference(owner)]
    meta.pop("generateName", None)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def is_terminating(obj: JSON) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_pod_active(pod: JSON) -> bool:
    """Not being deleted and not finished (Succeeded/Failed)."""
    phase = (pod.get("status") or {}).get("phase")
    return not is_terminating(pod) and phase not in ("Succeeded", "Failed")


def is_pod_ready(pod: JSON) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pod_ip(pod: JSON) -> str | None:
    value = (pod.get("status") or {}).get("podIP")
    return str(value) if value else None
