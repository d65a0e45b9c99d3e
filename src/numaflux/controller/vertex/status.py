"""A Vertex's status after a reconcile: conditions Deployed/PodsHealthy, phase, ready replicas (§4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from numaflux.api import Vertex, VertexStatus
from numaflux.api import constants as c
from numaflux.controller.pipeline.lifecycle import parse_time
from numaflux.controller.vertex.orchestrate import Pod, active_pods, is_ready, pod_name

UNHEALTHY_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImageInspectError",
        "RunContainerError",
        "ImageNotRunnableLocally",  # the local kubelet's "no command known for this image"
    }
)
RECENT_RESTART_WINDOW = timedelta(minutes=2)
RECENT_RESTART_REQUEUE_SECONDS = 60.0

REASON_ISB_NOT_FOUND = "ISBSvcNotFound"
REASON_ISB_NOT_HEALTHY = "ISBSvcNotHealthy"
REASON_ORCHESTRATE_FAILED = "OrchestratePodsFailed"


@dataclass(frozen=True)
class PodsHealth:
    ok: bool
    reason: str
    message: str
    requeue_after: float | None = None


def _container_problem(pod: Pod, cs: dict[str, Any], now: datetime) -> tuple[str, str, bool] | None:
    """(reason, detail, transient) if this container status makes the pod unhealthy."""
    state = cs.get("state") or {}
    name = cs.get("name", "")
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in UNHEALTHY_WAITING_REASONS:
        detail = f"container {name}: {waiting['reason']}"
        if waiting.get("message"):
            detail += f": {waiting['message']}"
        return waiting["reason"], detail, False
    terminated = state.get("terminated") or {}
    if terminated.get("reason") == "Error":
        return "Error", f"container {name} exited with code {terminated.get('exitCode')}", False
    last = (cs.get("lastState") or {}).get("terminated") or {}
    code = last.get("exitCode")
    if code == 137 or (code == 143 and last.get("reason") == "Error"):
        finished = parse_time(last.get("finishedAt"))
        if finished is not None and now - finished < RECENT_RESTART_WINDOW:
            return "RecentRestart", f"container {name} restarted recently (exit code {code})", True
    return None


def pods_health(pods: Sequence[Pod], now: datetime) -> PodsHealth:
    """NumaFlow's CheckPodsStatus: the first unhealthy container decides (reason ``Pod<Reason>``)."""
    live = active_pods(pods)
    if not live:
        return PodsHealth(True, "NoPodsFound", "No Pods found")
    for pod in live:
        status = pod.get("status") or {}
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            problem = _container_problem(pod, cs, now)
            if problem is not None:
                reason, detail, transient = problem
                return PodsHealth(
                    False,
                    f"Pod{reason}",
                    f"Pod {pod_name(pod)} is unhealthy: {detail}",
                    RECENT_RESTART_REQUEUE_SECONDS if transient else None,
                )
    return PodsHealth(True, "Running", "All pods are healthy")


@dataclass(frozen=True)
class VertexStatusResult:
    status: VertexStatus
    requeue_after: float | None


def vertex_status(
    vertex: Vertex,
    orchestrated: VertexStatus | None,
    pods: Sequence[Pod],
    now: datetime,
    *,
    isb_missing: bool = False,
    isb_problem: str | None = None,
    orchestrate_error: str | None = None,
) -> VertexStatusResult:
    """Finish the status: ``orchestrated`` is ``plan_pods(...).status`` (None when pods were not
    orchestrated because of an ISB problem or an error)."""
    st = (orchestrated or vertex.status or VertexStatus()).model_copy(deep=True)
    st.init_conditions(now)
    st.observed_generation = vertex.metadata.generation or 0
    if isb_problem is not None:
        st.mark_phase_failed(REASON_ISB_NOT_FOUND if isb_missing else REASON_ISB_NOT_HEALTHY, isb_problem)
        return VertexStatusResult(st, None)
    if orchestrate_error is not None:
        st.mark_deploy_failed(REASON_ORCHESTRATE_FAILED, orchestrate_error, now)
        return VertexStatusResult(st, None)
    st.mark_deployed(now)
    st.mark_phase(c.VertexPhase(vertex.spec.get_lifecycle().get_desired_phase()))
    desired = vertex.calculate_replicas()
    st.ready_replicas = min(sum(1 for p in active_pods(pods) if is_ready(p)), desired)
    health = pods_health(pods, now)
    if health.ok:
        st.mark_pods_healthy(health.reason, health.message, now)
    else:
        st.mark_pod_not_healthy(health.reason, health.message, now)
    return VertexStatusResult(st, health.requeue_after)
