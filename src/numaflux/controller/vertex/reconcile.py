"""One Vertex reconcile as a pure function (§4): services, pods and status from the Vertex alone.

Apply in this order, stopping at the first error: create ``create_claims`` → delete ``delete_services`` →
create ``create_services`` → create ``create_pods`` → delete ``delete_pods`` → status → Events.
The Pipeline is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from numaflux.api import InterStepBufferService, Vertex, VertexStatus
from numaflux.api import constants as c
from numaflux.controller.pipeline.actions import WARNING, Event
from numaflux.controller.pipeline.workload import IsbNotReady, isb_env
from numaflux.controller.vertex.orchestrate import Pod, plan_pods
from numaflux.controller.vertex.pods import (
    build_pbq_claims,
    build_pod,
    pod_spec_hash,
    random_suffix,
    vertex_services,
)
from numaflux.controller.vertex.status import vertex_status


@dataclass(frozen=True)
class VertexObserved:
    """The Vertex, its pods and Services (by the pipeline-name/vertex-name labels), its ISB service."""

    vertex: Vertex
    pods: Sequence[Pod]
    services: Sequence[dict[str, Any]]
    isb: InterStepBufferService | None
    claims: Sequence[str] = ()
    """Names of the PersistentVolumeClaims that exist for this vertex (reduce storage)."""


@dataclass
class VertexReconcilePlan:
    status: VertexStatus | None
    create_claims: list[dict[str, Any]] = field(default_factory=list)
    create_services: list[dict[str, Any]] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)
    create_pods: list[dict[str, Any]] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _isb_problem(v: Vertex, isb: InterStepBufferService | None) -> tuple[bool, str | None]:
    name = v.spec.get_isb_service_name()
    if isb is None:
        return True, f"isbsvc {name} not found"
    if isb.status is None or not isb.status.is_healthy():
        return False, f"isbsvc {name} not healthy"
    return False, None


def _plan_services(v: Vertex, existing: Sequence[dict[str, Any]], plan: VertexReconcilePlan) -> None:
    """Missing → create; hash changed → delete and create (NumaFlow's way); not wanted → delete."""
    have = {s["metadata"]["name"]: s for s in existing}
    wanted = vertex_services(v)
    for svc in wanted:
        name = svc["metadata"]["name"]
        old = have.get(name)
        old_hash = ((old or {}).get("metadata", {}).get("annotations") or {}).get(c.KEY_HASH)
        if old is None:
            plan.create_services.append(svc)
        elif old_hash != svc["metadata"]["annotations"][c.KEY_HASH]:
            plan.delete_services.append(name)
            plan.create_services.append(svc)
    names = {s["metadata"]["name"] for s in wanted}
    plan.delete_services += sorted(n for n in have if n not in names)


def plan_vertex(
    observed: VertexObserved,
    now: datetime,
    *,
    image: str,
    suffix: Callable[[], str] = random_suffix,
) -> VertexReconcilePlan:
    """Everything one reconcile of ``observed.vertex`` should do."""
    v = observed.vertex
    if v.metadata.deletion_timestamp:
        return VertexReconcilePlan(status=None)
    missing, problem = _isb_problem(v, observed.isb)
    env: list[dict[str, Any]] = []
    if problem is None and observed.isb is not None:
        try:
            env = isb_env(observed.isb)
        except IsbNotReady as err:
            problem = str(err)
    if problem is not None:
        result = vertex_status(v, None, observed.pods, now, isb_missing=missing, isb_problem=problem)
        reason = result.status.reason or "ISBSvcNotHealthy"
        return VertexReconcilePlan(
            status=result.status,
            events=[Event(WARNING, reason, problem)],
            requeue_after=float(c.DEFAULT_REQUEUE_AFTER_SECONDS),
        )
    plan = VertexReconcilePlan(status=None)
    plan.create_claims = [
        pvc for pvc in build_pbq_claims(v) if pvc["metadata"]["name"] not in observed.claims
    ]
    _plan_services(v, observed.services, plan)
    pod_hash = pod_spec_hash(v, env, image)
    pods = plan_pods(v, observed.pods, pod_hash, now)
    plan.create_pods = [build_pod(v, r, env, image, pod_hash, suffix()) for r in pods.creates]
    plan.delete_pods = pods.deletes
    plan.events = list(pods.events)
    result = vertex_status(v, pods.status, observed.pods, now)
    plan.status = result.status
    plan.requeue_after = result.requeue_after
    return plan
