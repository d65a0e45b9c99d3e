"""Pod phase, conditions and QoS class from container statuses (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from numaflux.kubelet.timefmt import rfc3339


def pod_phase(
    restart_policy: str,
    init_pending: bool,
    init_failed: bool,
    statuses: Sequence[Mapping[str, Any]],
) -> str:
    """Phase the way a kubelet derives it.

    `init_pending`: regular init containers have not all completed (or sidecars not all started);
    `init_failed`: an init container failed and will not be restarted.
    """
    if init_failed:
        return "Failed"
    if init_pending:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif (status.get("lastState") or {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def condition(kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    """A condition without its transition time."""
    out: dict[str, Any] = {"type": kind, "status": "True" if ok else "False"}
    if not ok and reason:
        out["reason"] = reason
    if not ok and message:
        out["message"] = message
    return out


def pod_conditions(
    phase: str,
    sandbox_ready: bool,
    unfinished_init: Sequence[str],
    unready: Sequence[str],
) -> list[dict[str, Any]]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled (no times yet)."""
    initialized = not unfinished_init
    done = phase in ("Succeeded", "Failed")
    if done:
        ready_reason, ready_message = "PodCompleted", None
    else:
        ready_reason = "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
    init_message = f"containers with incomplete status: [{' '.join(unfinished_init)}]"
    all_ready = not unready and not done
    return [
        condition("PodReadyToStartContainers", sandbox_ready and not done),
        condition("Initialized", initialized, "ContainersNotInitialized", init_message),
        condition("Ready", all_ready, ready_reason, ready_message),
        condition("ContainersReady", all_ready, ready_reason, ready_message),
        condition("PodScheduled", True),
    ]


def stamp_conditions(
    new: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]], now: float
) -> list[dict[str, Any]]:
    """Add lastTransitionTime: kept from `previous` while the status is unchanged, else `now`."""
    before = {c["type"]: c for c in previous}
    out = []
    for cond in new:
        old = before.get(cond["type"])
        same = old is not None and old.get("status") == cond["status"] and "lastTransitionTime" in old
        stamp = old["lastTransitionTime"] if same and old is not None else rfc3339(now)
        out.append({**cond, "lastProbeTime": None, "lastTransitionTime": stamp})
    return out


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' requests and limits."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        if limits or requests:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in limits or str(requests.get(res)) != str(limits[res]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
