"""Pipeline status: conditions, counts, phase and message, and what an ISB outage does (and does not) hide."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from numaflux.api import InterStepBufferService, Pipeline, Vertex, VertexLifecycle, VertexStatus
from numaflux.api import constants as c
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.pipeline.lifecycle import decide
from numaflux.controller.pipeline.status import (
    deployment_health,
    isb_problem,
    pipeline_status,
    vertices_health,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = "2026-01-01T12:00:00Z"


def pipeline(desired: str = "Running", marker: bool = False, side_inputs: bool = False) -> Pipeline:
    spec: dict[str, Any] = {
        "lifecycle": {"desiredPhase": desired},
        "vertices": [
            {"name": "in", "source": {"generator": {}}},
            {"name": "cat", "udf": {"container": {"image": "x"}}},
            {"name": "out", "sink": {"log": {}}},
        ],
        "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    }
    if side_inputs:
        spec["sideInputs"] = [
            {"name": "s", "container": {"image": "x"}, "trigger": {"schedule": "@every 5s"}}
        ]
    meta: dict[str, Any] = {"name": "pl", "namespace": "ns", "generation": 4}
    if marker:
        meta["annotations"] = {c.KEY_PAUSE_TIMESTAMP: NOW}
    return Pipeline.model_validate({"metadata": meta, "spec": spec})


def healthy_vertices(pl: Pipeline, phase: str = "Running") -> list[Vertex]:
    out = build_vertices(pl)
    for v in out:
        v.spec.lifecycle = VertexLifecycle(desired_phase=phase)
        v.metadata.generation = 2
        v.status = VertexStatus(observed_generation=2, phase=phase)
        v.status.mark_deployed(T0)
        v.status.mark_pods_healthy("Running", "All pods are healthy", T0)
    return out


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "pl-daemon", "generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            **status,
        },
    }


def conditions(st: Any) -> dict[str, tuple[str, str]]:
    return {cd.type: (cd.status, cd.reason) for cd in st.conditions}


def test_a_healthy_running_pipeline_has_every_condition_true_and_no_message() -> None:
    pl = pipeline()
    vs = healthy_vertices(pl)
    d = decide(pl, vs, source_pods_running=True, buffers=None, now=T0)
    st = pipeline_status(
        pl,
        now=T0,
        validation_error=None,
        deploy_error=None,
        vertices=vs,
        daemon_deployment=deployment(),
        lifecycle=d,
    )
    assert st.phase == "Running" and st.message == ""
    assert conditions(st) == {
        "Configured": ("True", "Successful"),
        "DaemonServiceHealthy": ("True", "Successful"),
        "Deployed": ("True", "Successful"),
        "SideInputsManagersHealthy": ("True", "NoSideInputs"),
        "VerticesHealthy": ("True", "Successful"),
    }
    assert (
        st.vertex_count,
        st.source_count,
        st.sink_count,
        st.udf_count,
        st.map_udf_count,
        st.reduce_udf_count,
    ) == (3, 1, 1, 1, 1, 0)
    assert st.observed_generation == 4 and st.last_updated == NOW
    assert st.is_healthy()


def test_an_invalid_spec_fails_with_configured_false() -> None:
    st = pipeline_status(
        pipeline(),
        now=T0,
        validation_error="spec.edges: at least one edge",
        deploy_error=None,
        vertices=[],
        daemon_deployment=None,
        lifecycle=None,
    )
    assert (st.phase, st.message) == ("Failed", "spec.edges: at least one edge")
    assert conditions(st)["Configured"] == ("False", "InvalidSpec")


def test_a_missing_isb_fails_with_a_message_that_says_why_but_keeps_the_lifecycle() -> None:
    pl = pipeline("Running", marker=True)
    vs = healthy_vertices(pl, "Paused")
    d = decide(pl, vs, source_pods_running=False, buffers=None, now=T0)
    problem = isb_problem(pl, None)
    assert problem == "isbsvc default not found"
    st = pipeline_status(
        pl,
        now=T0,
        validation_error=None,
        deploy_error=problem,
        vertices=vs,
        daemon_deployment=None,
        lifecycle=d,
    )
    assert (st.phase, st.message) == ("Failed", "isbsvc default not found")
    assert conditions(st)["Deployed"] == ("False", "ReconcileFixedResourcesFailed")
    assert st.drained_on_pause is False
    assert len(d.vertex_patches) == 3, "the resume still goes out while the ISB is missing"


def test_isb_problem_names_the_phase_and_message_of_an_unhealthy_service() -> None:
    isb = InterStepBufferService.model_validate(
        {
            "metadata": {"name": "default"},
            "spec": {"jetstream": {}},
            "status": {"phase": "Pending", "message": "waiting for quorum"},
        }
    )
    assert isb_problem(pipeline(), isb) == "isbsvc default not healthy (phase Pending: waiting for quorum)"
    isb.get_status().phase = "Running"
    isb.get_status().mark_configured(T0)
    isb.get_status().mark_deployed(T0)
    isb.get_status().mark_children_healthy(T0)
    assert isb_problem(pipeline(), isb) is None


def test_pausing_and_paused_messages_win_over_degraded_children() -> None:
    pl = pipeline("Paused")
    vs = healthy_vertices(pl)
    d = decide(pl, vs, source_pods_running=True, buffers=None, now=T0)
    st = pipeline_status(
        pl, now=T0, validation_error=None, deploy_error=None, vertices=vs, daemon_deployment=None, lifecycle=d
    )
    assert (st.phase, st.message) == ("Pausing", "Pausing in progress")
    assert conditions(st)["DaemonServiceHealthy"] == ("False", "GetDaemonServiceFailed")


def test_a_running_pipeline_with_a_missing_daemon_is_degraded() -> None:
    pl = pipeline()
    vs = healthy_vertices(pl)
    d = decide(pl, vs, source_pods_running=True, buffers=None, now=T0)
    st = pipeline_status(
        pl, now=T0, validation_error=None, deploy_error=None, vertices=vs, daemon_deployment=None, lifecycle=d
    )
    assert st.phase == "Running"
    assert st.message == "Degraded: Deployment not found, might be still under creation"
    assert not st.is_healthy()


def test_unhealthy_and_unreconciled_vertices() -> None:
    pl = pipeline()
    vs = healthy_vertices(pl)
    assert vertices_health(vs).ok
    vs[1].metadata.generation = 3
    assert vertices_health(vs).message == "Waiting for reconciliation of vertex pl-cat"
    vs[1].metadata.generation = 2
    vs[2].get_status().mark_pod_not_healthy("PodCrashLoopBackOff", "Pod pl-out-0-abcde is unhealthy", T0)
    health = vertices_health(vs)
    assert (health.reason, health.message) == (
        "Unavailable",
        "Some Vertices are unhealthy: pl-out: Degraded: Pod pl-out-0-abcde is unhealthy",
    )


def test_deployment_rollout_rules() -> None:
    assert deployment_health(deployment(), "X").ok
    assert deployment_health(deployment(updatedReplicas=0), "X").message == (
        "Waiting for deployment 'pl-daemon' rollout to finish: 0 out of 1 new replicas have been updated"
    )
    assert deployment_health(deployment(replicas=2), "X").message == (
        "Waiting for deployment 'pl-daemon' rollout to finish: 1 old replicas are pending termination"
    )
    assert deployment_health(deployment(availableReplicas=0), "X").message == (
        "Waiting for deployment 'pl-daemon' rollout to finish: 0 of 1 updated replicas are available"
    )
    assert deployment_health(deployment(observedGeneration=0), "X").reason == "Progressing"
    stuck = deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    assert deployment_health(stuck, "X").message == "Deployment 'pl-daemon' exceeded its progress deadline"
    assert deployment_health(None, "GetDaemonServiceFailed").reason == "GetDaemonServiceFailed"


def test_side_inputs_managers_must_all_be_rolled_out() -> None:
    pl = pipeline(side_inputs=True)
    vs = healthy_vertices(pl)
    st = pipeline_status(
        pl,
        now=T0,
        validation_error=None,
        deploy_error=None,
        vertices=vs,
        daemon_deployment=deployment(),
        side_inputs_deployments=[],
        lifecycle=None,
    )
    assert conditions(st)["SideInputsManagersHealthy"] == ("False", "GetSideInputDeploymentFailed")
    st = pipeline_status(
        pl,
        now=T0,
        validation_error=None,
        deploy_error=None,
        vertices=vs,
        daemon_deployment=deployment(),
        side_inputs_deployments=[deployment()],
        lifecycle=None,
    )
    assert conditions(st)["SideInputsManagersHealthy"] == ("True", "Successful")
