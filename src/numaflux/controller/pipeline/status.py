"""The Pipeline's status: conditions, vertex counts, observedGeneration, phase and message (§3.2, §3.8).

Phase comes from three places, in NumaFlow's precedence: an invalid spec → Failed (Configured=False,
InvalidSpec); a missing/unhealthy ISB service or a failure creating children → Failed (Deployed=False)
with a message saying why; otherwise the lifecycle decision's phase. A Failed phase never hides the
lifecycle: the decision's vertex patches and marker are still applied, and since decisions never read
``status.phase``, the pipeline pauses or resumes correctly once the ISB service is healthy again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from numaflux.api import InterStepBufferService, Pipeline, PipelineStatus, Vertex
from numaflux.api import constants as c
from numaflux.api.status import format_time
from numaflux.controller.pipeline.lifecycle import LifecycleDecision

REASON_INVALID_SPEC = "InvalidSpec"
REASON_FIXED_RESOURCES_FAILED = "ReconcileFixedResourcesFailed"


@dataclass(frozen=True)
class Health:
    """A child's health as a condition: ok, reason, message."""

    ok: bool
    reason: str
    message: str


def isb_problem(pl: Pipeline, isb: InterStepBufferService | None) -> str | None:
    """Why the pipeline's ISB service cannot be used, or None when it is healthy."""
    name = pl.get_isb_service_name()
    if isb is None:
        return f"isbsvc {name} not found"
    status = isb.status
    if status is None or not status.is_healthy():
        phase = (status.phase if status else None) or "unknown"
        detail = f": {status.message}" if status and status.message else ""
        return f"isbsvc {name} not healthy (phase {phase}{detail})"
    return None


def deployment_health(dep: dict[str, Any] | None, missing_reason: str) -> Health:
    """kubectl rollout-status rules for a Deployment dict (None = not found)."""
    if dep is None:
        return Health(False, missing_reason, "Deployment not found, might be still under creation")
    name = (dep.get("metadata") or {}).get("name", "")
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    generation = (dep.get("metadata") or {}).get("generation") or 0
    if (status.get("observedGeneration") or 0) < generation:
        return Health(False, "Progressing", f"Waiting for deployment {name!r} spec update to be observed")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Health(False, "Progressing", f"Deployment {name!r} exceeded its progress deadline")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < want:
        return Health(
            False,
            "Progressing",
            f"Waiting for deployment {name!r} rollout to finish: {updated} out "
            f"of {want} new replicas have been updated",
        )
    if total > updated:
        return Health(
            False,
            "Progressing",
            f"Waiting for deployment {name!r} rollout to finish: "
            f"{total - updated} old replicas are pending termination",
        )
    if available < updated:
        return Health(
            False,
            "Progressing",
            f"Waiting for deployment {name!r} rollout to finish: {available} "
            f"of {updated} updated replicas are available",
        )
    return Health(True, "Successful", "Successful")


def vertices_health(vertices: Sequence[Vertex]) -> Health:
    """Progressing while any vertex is unreconciled; Unavailable if any is unhealthy."""
    for v in vertices:
        observed = (v.status.observed_generation if v.status else None) or 0
        if observed == 0 or (v.metadata.generation or 0) > observed:
            return Health(False, "Progressing", f"Waiting for reconciliation of vertex {v.name}")
    for v in vertices:
        if not v.get_status().is_healthy():
            st = v.get_status()
            detail = st.message or f"phase {st.phase or 'unknown'}"
            return Health(False, "Unavailable", f"Some Vertices are unhealthy: {v.name}: {detail}")
    return Health(True, "Successful", "All vertices are healthy")


def pipeline_status(
    pl: Pipeline,
    *,
    now: datetime,
    validation_error: str | None,
    deploy_error: str | None,
    vertices: Sequence[Vertex],
    daemon_deployment: dict[str, Any] | None,
    side_inputs_deployments: Sequence[dict[str, Any] | None] = (),
    lifecycle: LifecycleDecision | None,
) -> PipelineStatus:
    """The status to write. ``deploy_error``: the ISB problem (``isb_problem``) or a child that could not be
    created; ``lifecycle``: this reconcile's decision (None when the spec is invalid)."""
    st = (pl.status or PipelineStatus()).model_copy(deep=True)
    st.init_conditions(now)
    st.observed_generation = pl.metadata.generation or 0
    st.last_updated = format_time(now)
    if validation_error is not None:
        st.mark_not_configured(REASON_INVALID_SPEC, validation_error, now)
        return st
    st.set_vertex_counts(pl.vertex_counts())
    st.mark_configured(now)
    if deploy_error is not None:
        st.mark_deploy_failed(REASON_FIXED_RESOURCES_FAILED, deploy_error, now)
        if lifecycle is not None and lifecycle.drained_on_pause is not None:
            st.drained_on_pause = lifecycle.drained_on_pause
        return st
    st.mark_deployed(now)
    st.message = ""
    daemon = deployment_health(daemon_deployment, "GetDaemonServiceFailed")
    if daemon.ok:
        st.mark_daemon_service_healthy(now)
    else:
        st.mark_daemon_service_unhealthy(daemon.reason, daemon.message, now)
    if not pl.spec.side_inputs:
        st.mark_true_with_reason(
            c.PIPELINE_CONDITION_SIDE_INPUTS_MANAGERS_HEALTHY,
            "NoSideInputs",
            "No Side Inputs attached to the pipeline",
            now,
        )
    else:
        bad = [
            h
            for h in (deployment_health(d, "GetSideInputDeploymentFailed") for d in side_inputs_deployments)
            if not h.ok
        ]
        if len(side_inputs_deployments) < len(pl.spec.side_inputs):
            bad.insert(
                0, Health(False, "GetSideInputDeploymentFailed", "Side inputs manager Deployment not found")
            )
        if bad:
            st.mark_side_inputs_managers_unhealthy(bad[0].reason, bad[0].message, now)
        else:
            st.mark_side_inputs_managers_healthy(now)
    vertices_ok = vertices_health(vertices)
    if vertices_ok.ok:
        st.mark_vertices_healthy(now)
    else:
        st.mark_vertices_unhealthy(vertices_ok.reason, vertices_ok.message, now)
    first_bad = next((cond for cond in st.conditions or [] if cond.status != c.ConditionStatus.TRUE), None)
    st.message = f"Degraded: {first_bad.message}" if first_bad is not None else ""
    if lifecycle is not None:
        if lifecycle.phase is not None:
            st.phase = lifecycle.phase.value
            if lifecycle.phase != c.PipelinePhase.RUNNING and lifecycle.message is not None:
                st.message = lifecycle.message
        if lifecycle.drained_on_pause is not None:
            st.drained_on_pause = lifecycle.drained_on_pause
    return st
