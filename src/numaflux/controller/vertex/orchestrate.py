"""Which pods to create and delete for a Vertex (NumaFlow's orchestratePods / ensurePods), purely.

Desired pods come from ``vertex.calculate_replicas()`` — the Vertex's own spec, never the Pipeline.
Replica ``i`` is the pod whose ``numaflow.numaproj.io/replica`` annotation is ``i``; scale-down removes
the highest indices; a changed pod-spec hash is rolled out by index ranges, at most ``maxUnavailable``
replicas at a time, and only after the already-updated range is Ready.

Two small departures: pods that finished (phase Failed/Succeeded) and are not already being deleted are
deleted (there is no pod garbage collector in local mode, and they never run again); and a rolling
update moves at least one replica per step even when ``maxUnavailable`` scales to 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from numaflux.api import Vertex, VertexStatus
from numaflux.api import constants as c
from numaflux.api.status import format_time
from numaflux.controller.pipeline.actions import NORMAL, Event

Pod = dict[str, Any]


def pod_name(pod: Pod) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def replica_of(pod: Pod) -> int | None:
    """The replica index from the annotation (None if missing or not a non-negative integer)."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(c.KEY_REPLICA)
    try:
        index = int(str(value))
    except ValueError:
        return None
    return index if index >= 0 else None


def pod_hash(pod: Pod) -> str | None:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(c.KEY_HASH)


def is_deleting(pod: Pod) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_finished(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def is_ready(pod: Pod) -> bool:
    """Phase Running and the Ready condition True."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        cd.get("type") == "Ready" and cd.get("status") == "True" for cd in status.get("conditions") or []
    )


def active_pods(pods: Sequence[Pod]) -> list[Pod]:
    """Pods neither being deleted nor finished, oldest first (then by name)."""
    live = [p for p in pods if not is_deleting(p) and not is_finished(p)]
    return sorted(
        live, key=lambda p: (str((p.get("metadata") or {}).get("creationTimestamp") or ""), pod_name(p))
    )


@dataclass
class PodPlan:
    """Replica indices to create (with the current pod hash), pod names to delete, the status fields
    orchestration maintains, and Events."""

    creates: list[int] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    status: VertexStatus = field(default_factory=VertexStatus)
    events: list[Event] = field(default_factory=list)


class _Planner:
    def __init__(self, vertex: Vertex, pods: Sequence[Pod], pod_spec_hash: str) -> None:
        self.vertex = vertex
        self.hash = pod_spec_hash
        self.plan = PodPlan(status=(vertex.status or VertexStatus()).model_copy(deep=True))
        self.live = active_pods(pods)

    def delete(self, pod: Pod) -> None:
        name = pod_name(pod)
        if name not in self.plan.deletes:
            self.plan.deletes.append(name)

    def kept(self) -> list[Pod]:
        return [p for p in self.live if pod_name(p) not in self.plan.deletes]

    def ensure(self, start: int, stop: int) -> None:
        """Each replica in [start, stop) keeps one pod with the current hash or gets a new one; every
        other pod in the range (old hash, duplicates) goes."""
        for r in range(start, stop):
            pods = [p for p in self.kept() if replica_of(p) == r]
            current = [p for p in pods if pod_hash(p) == self.hash]
            if current:
                keep = current[0]
            else:
                keep = None
                if r not in self.plan.creates:
                    self.plan.creates.append(r)
            for p in pods:
                if p is not keep:
                    self.delete(p)

    def ready_updated(self, count: int) -> int:
        return sum(
            1
            for p in self.kept()
            if (replica_of(p) or 0) < count
            and replica_of(p) is not None
            and pod_hash(p) == self.hash
            and is_ready(p)
        )


def plan_pods(vertex: Vertex, pods: Sequence[Pod], pod_spec_hash: str, now: datetime) -> PodPlan:
    """The pod changes for ``vertex`` given all its pods (listed by pipeline-name/vertex-name labels)."""
    p = _Planner(vertex, pods, pod_spec_hash)
    st = p.plan.status
    desired = vertex.calculate_replicas()
    st.desired_replicas = desired
    if st.update_hash != pod_spec_hash:
        st.update_hash = pod_spec_hash
        st.updated_replicas = 0
        st.updated_ready_replicas = 0
    for pod in pods:
        if is_finished(pod) and not is_deleting(pod):
            p.delete(pod)
    for pod in p.live:
        index = replica_of(pod)
        if index is None or index >= desired:
            p.delete(pod)
    current = st.replicas or 0
    if current > desired:
        st.replicas = desired
    updated = min(st.updated_replicas or 0, desired)
    st.updated_replicas = updated
    if updated > 0:
        p.ensure(0, updated)
        if (st.updated_ready_replicas or 0) != updated:
            st.updated_ready_replicas = p.ready_updated(updated)
            if st.updated_ready_replicas < updated:
                return _finish(vertex, p.plan, current, desired, now, bookkeeping=False)
    if st.update_hash == st.current_hash or not st.current_hash:
        if desired > updated:
            p.ensure(updated, desired)
        st.updated_replicas = desired
        st.current_hash = st.update_hash
    elif updated >= desired:
        st.updated_replicas = desired
        st.current_hash = st.update_hash
    else:
        step = vertex.spec.get_update_strategy().get_max_unavailable_replicas(desired)
        step = min(max(step, 1), desired - updated)
        p.ensure(updated, updated + step)
        st.updated_replicas = updated + step
        if st.updated_replicas == desired:
            st.current_hash = st.update_hash
    return _finish(vertex, p.plan, current, desired, now, bookkeeping=True)


def _finish(
    vertex: Vertex, plan: PodPlan, current: int, desired: int, now: datetime, bookkeeping: bool
) -> PodPlan:
    st = plan.status
    if bookkeeping and current != desired:
        plan.events.append(Event(NORMAL, "ReplicasScaled", f"Replicas scaled from {current} to {desired}"))
        st.replicas = desired
        st.last_scaled_at = format_time(now)
    if not st.last_scaled_at:
        st.last_scaled_at = vertex.metadata.creation_timestamp
    if not st.selector:
        st.selector = vertex.get_selector()
    return plan
