"""One Pipeline reconcile as a pure function: observed state in, everything to apply out.

``plan_pipeline`` runs NumaFlow's reconcile order (§3.2) over the decision modules:

    deleting?  → lifecycle (drain, clean up, release the finalizer) and stop
    finalizer  → add it if missing
    validate   → invalid: Failed, Configured=False, nothing else
    ISB        → missing/unhealthy/no URL: Failed with why; no children are touched, but the
                 lifecycle still runs (resume/pause must not wait for the ISB; #2331)
    children   → buffers/buckets, vertices (create/update/delete), daemon Service + Deployment
    lifecycle  → ``decide`` over the vertices as they will be after the children step
    repair     → ``check_consistency``
    status     → ``pipeline_status``

Apply the plan in this order, stopping at the first error (the next reconcile recomputes everything):
children: the finalizer, ISB buffers/buckets (create, then delete), vertex creates/updates/deletes and
daemon objects → ``vertex_patches`` → ``lifecycle.annotation_patch()`` and status (together: their order
does not matter to the lifecycle, see ``lifecycle``) → ``lifecycle.cleanup`` (delete buffers/buckets,
then remove the finalizer) → Events and log lines. The writes within one step
are independent and go out at once (a vertex pod waits for its buffers and buckets, so Vertex objects
need not wait for the ISB; the Vertex and daemon objects are owned by the pipeline, so they need no
finalizer to be removed with it); a step ends when all of them have, then raises its first failure, so
the next step never starts after a failed one. The buffers and buckets are the one child that waits for
the finalizer, whose cleanup alone removes them. The ISB write is also the exception that does not hold
the step up: like NumaFlow's buffer-creation job, the ensure runs beside the reconcile
(``ensuring.py``); its end queues the pipeline again, and a failure is raised by every reconcile until
an ensure succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from numaflux.api import InterStepBufferService, Pipeline, PipelineStatus, Vertex
from numaflux.api import constants as c
from numaflux.api.validation import validate_pipeline
from numaflux.controller.pipeline.actions import NORMAL, Event, LogLine, VertexPatch
from numaflux.controller.pipeline.build import IsbPlan, VertexPlan, plan_isb_resources, plan_vertex_updates
from numaflux.controller.pipeline.daemon import build_daemon_deployment, build_daemon_service
from numaflux.controller.pipeline.lifecycle import (
    FINALIZER,
    Buffers,
    LifecycleDecision,
    LifecycleSettings,
    decide,
)
from numaflux.controller.pipeline.repair import RepairDecision, RepairSettings, check_consistency
from numaflux.controller.pipeline.status import isb_problem, pipeline_status
from numaflux.controller.pipeline.workload import IsbNotReady, isb_env


@dataclass(frozen=True)
class PipelineObserved:
    """What a reconcile reads.

    ``vertices``: Vertex objects labelled ``numaflow.numaproj.io/pipeline-name``; ``source_pods_running``:
    any pod (terminating included) of a source vertex exists; ``live_pods``: vertex object name → pods
    not being deleted; ``buffers``: info for every ``pipeline.all_buffers()`` (None when unavailable,
    ``buffers_error`` says why; ``NOT_READ`` until a plan raised ``BuffersNeeded``); ``lagging_since``:
    the previous plan's ``repair.lagging_since``.
    """

    pipeline: Pipeline
    vertices: Sequence[Vertex]
    isb: InterStepBufferService | None
    daemon_deployment: dict[str, Any] | None
    source_pods_running: bool
    live_pods: Mapping[str, int]
    buffers: Buffers
    buffers_error: str | None = None
    side_inputs_deployments: Sequence[dict[str, Any] | None] = ()
    lagging_since: Mapping[str, datetime] = field(default_factory=dict)


@dataclass
class PipelinePlan:
    """Everything to apply, in the order of the module docstring."""

    status: PipelineStatus
    add_finalizer: bool = False
    isb: IsbPlan | None = None
    vertices: VertexPlan | None = None
    daemon_service: dict[str, Any] | None = None
    daemon_deployment: dict[str, Any] | None = None
    vertex_patches: list[VertexPatch] = field(default_factory=list)
    lifecycle: LifecycleDecision | None = None
    repair: RepairDecision | None = None
    events: list[Event] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    requeue_after: float | None = None


def _vertex_plan_events(plan: VertexPlan) -> list[Event]:
    out = [Event(NORMAL, "CreateVertexSuccess", f"Created vertex {v.name}") for v in plan.creates]
    out += [Event(NORMAL, "UpdateVertexSuccess", f"Updated vertex {v.name}") for v in plan.updates]
    out += [
        Event(NORMAL, "DeleteStaleVertexSuccess", f"Deleted stale vertex {name}") for name in plan.deletes
    ]
    return out


def _merge_patches(first: list[VertexPatch], then: list[VertexPatch]) -> list[VertexPatch]:
    """Lifecycle patches win; a repair patch for a vertex the lifecycle already patches is dropped."""
    seen = {p.vertex for p in first}
    return first + [p for p in then if p.vertex not in seen]


def plan_pipeline(
    observed: PipelineObserved,
    now: datetime,
    *,
    image: str,
    lifecycle_settings: LifecycleSettings = LifecycleSettings(),
    repair_settings: RepairSettings = RepairSettings(),
) -> PipelinePlan:
    """The whole reconcile of one Pipeline; ``image`` is the daemon's (our own) image.

    Raises ``BuffersNeeded`` if the lifecycle step needs ``observed.buffers`` and they are ``NOT_READ``."""
    pl = observed.pipeline
    vertices = list(observed.vertices)
    status = (pl.status or PipelineStatus()).model_copy(deep=True)

    if pl.metadata.deletion_timestamp:
        if FINALIZER not in (pl.metadata.finalizers or []):
            return PipelinePlan(status=status)
        lifecycle = _decide(observed, vertices, now, lifecycle_settings)
        lifecycle.apply_to_status(status)
        return PipelinePlan(
            status=status,
            vertex_patches=lifecycle.vertex_patches,
            lifecycle=lifecycle,
            events=list(lifecycle.events),
            logs=list(lifecycle.logs),
            requeue_after=lifecycle.requeue_after,
        )

    plan = PipelinePlan(status=status, add_finalizer=FINALIZER not in (pl.metadata.finalizers or []))
    problems = validate_pipeline(pl)
    if problems:
        message = "; ".join(str(p) for p in problems)
        plan.status = pipeline_status(
            pl,
            now=now,
            validation_error=message,
            deploy_error=None,
            vertices=vertices,
            daemon_deployment=observed.daemon_deployment,
            lifecycle=None,
        )
        plan.events.append(Event("Warning", "InvalidSpec", message))
        return plan

    deploy_error = isb_problem(pl, observed.isb)
    env: list[dict[str, Any]] = []
    if deploy_error is None and observed.isb is not None:
        try:
            env = isb_env(observed.isb)
        except IsbNotReady as err:
            deploy_error = str(err)
    after = vertices
    if deploy_error is None:
        plan.isb = plan_isb_resources(pl, vertices)
        plan.vertices = plan_vertex_updates(pl, vertices)
        plan.daemon_service = build_daemon_service(pl)
        plan.daemon_deployment = build_daemon_deployment(pl, env, image)
        plan.events += _vertex_plan_events(plan.vertices)
        after = plan.vertices.resulting(vertices)
    else:
        plan.events.append(Event("Warning", "ReconcileFixedResourcesFailed", deploy_error))

    lifecycle = _decide(observed, after, now, lifecycle_settings)
    repair = check_consistency(
        pl,
        after,
        live_pods=observed.live_pods,
        lagging_since=observed.lagging_since,
        now=now,
        settings=repair_settings,
    )
    plan.lifecycle, plan.repair = lifecycle, repair
    plan.vertex_patches = _merge_patches(lifecycle.vertex_patches, repair.vertex_patches)
    plan.events += lifecycle.events + repair.events
    plan.logs += lifecycle.logs + repair.logs
    plan.requeue_after = lifecycle.requeue_after
    plan.status = pipeline_status(
        pl,
        now=now,
        validation_error=None,
        deploy_error=deploy_error,
        vertices=after,
        daemon_deployment=observed.daemon_deployment,
        side_inputs_deployments=observed.side_inputs_deployments,
        lifecycle=lifecycle,
    )
    if deploy_error is not None and plan.requeue_after is None:
        plan.requeue_after = float(c.DEFAULT_REQUEUE_AFTER_SECONDS)
    return plan


def _decide(
    observed: PipelineObserved, vertices: list[Vertex], now: datetime, settings: LifecycleSettings
) -> LifecycleDecision:
    return decide(
        observed.pipeline,
        vertices,
        source_pods_running=observed.source_pods_running,
        buffers=observed.buffers,
        buffers_error=observed.buffers_error,
        now=now,
        settings=settings,
    )
