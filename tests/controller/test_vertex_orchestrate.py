"""orchestratePods as a plan (scale up/down, rolling update, failed pods) and the vertex status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from numaflux.api import Vertex, VertexStatus
from numaflux.api import constants as c
from numaflux.api.status import format_time
from numaflux.controller.vertex.orchestrate import plan_pods, replica_of
from numaflux.controller.vertex.status import pods_health, vertex_status

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
H1, H2 = "hash-one", "hash-two"


def vertex(
    replicas: int | None = 3,
    paused: bool = False,
    status: dict[str, Any] | None = None,
    scale: dict[str, Any] | None = None,
    max_unavailable: Any = None,
) -> Vertex:
    spec: dict[str, Any] = {
        "name": "cat",
        "pipelineName": "pl",
        "udf": {"container": {"image": "x"}},
        "replicas": replicas,
        "lifecycle": {"desiredPhase": "Paused" if paused else "Running"},
        "scale": scale or {"min": 0, "max": 5},
    }
    if max_unavailable is not None:
        spec["updateStrategy"] = {"rollingUpdate": {"maxUnavailable": max_unavailable}}
    return Vertex.model_validate(
        {
            "metadata": {
                "name": "pl-cat",
                "namespace": "ns",
                "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": spec,
            "status": status,
        }
    )


def pod(
    replica: int | None,
    h: str = H1,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    suffix: str = "aaaaa",
    created: str = "2026-01-01T00:00:00Z",
    **status: Any,
) -> dict[str, Any]:
    annotations = {c.KEY_HASH: h}
    if replica is not None:
        annotations[c.KEY_REPLICA] = str(replica)
    meta: dict[str, Any] = {
        "name": f"pl-cat-{replica}-{suffix}",
        "annotations": annotations,
        "creationTimestamp": created,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    return {
        "metadata": meta,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            **status,
        },
    }


def steady(n: int, h: str = H1) -> dict[str, Any]:
    return {
        "replicas": n,
        "desiredReplicas": n,
        "currentHash": h,
        "updateHash": h,
        "updatedReplicas": n,
        "updatedReadyReplicas": n,
        "lastScaledAt": "2026-01-01T10:00:00Z",
        "selector": "x",
    }


def test_first_reconcile_creates_every_replica_and_records_the_scale() -> None:
    plan = plan_pods(vertex(3), [], H1, T0)
    assert plan.creates == [0, 1, 2] and plan.deletes == []
    st = plan.status
    assert (st.replicas, st.desired_replicas, st.updated_replicas) == (3, 3, 3)
    assert (st.current_hash, st.update_hash) == (H1, H1)
    assert st.last_scaled_at == format_time(T0)
    assert st.selector == f"{c.KEY_PIPELINE_NAME}=pl,{c.KEY_VERTEX_NAME}=cat"
    assert [(e.reason, e.message) for e in plan.events] == [("ReplicasScaled", "Replicas scaled from 0 to 3")]


def test_a_steady_vertex_plans_nothing() -> None:
    v = vertex(3, status=steady(3))
    plan = plan_pods(v, [pod(0), pod(1), pod(2)], H1, T0)
    assert (plan.creates, plan.deletes, plan.events) == ([], [], [])
    assert plan.status == v.status


def test_new_pods_not_yet_ready_are_waited_for() -> None:
    v = vertex(3, status={**steady(3), "updatedReadyReplicas": 0})
    plan = plan_pods(v, [pod(0, ready=False), pod(1), pod(2)], H1, T0)
    assert (plan.creates, plan.deletes) == ([], [])
    assert plan.status.updated_ready_replicas == 2


def test_scale_down_removes_the_highest_indices() -> None:
    v = vertex(1, status=steady(3))
    plan = plan_pods(v, [pod(0), pod(1), pod(2)], H1, T0)
    assert plan.deletes == ["pl-cat-1-aaaaa", "pl-cat-2-aaaaa"] and plan.creates == []
    assert (plan.status.replicas, plan.status.last_scaled_at) == (1, format_time(T0))


def test_scale_up_adds_the_missing_indices() -> None:
    v = vertex(5, status=steady(3))
    plan = plan_pods(v, [pod(0), pod(1), pod(2)], H1, T0)
    assert plan.creates == [3, 4] and plan.deletes == []
    assert plan.status.replicas == 5


def test_a_paused_vertex_removes_every_pod_and_keeps_spec_replicas() -> None:
    v = vertex(3, paused=True, status=steady(3))
    plan = plan_pods(v, [pod(0), pod(1), pod(2)], H1, T0)
    assert sorted(plan.deletes) == ["pl-cat-0-aaaaa", "pl-cat-1-aaaaa", "pl-cat-2-aaaaa"]
    assert (plan.status.replicas, plan.status.desired_replicas) == (0, 0)
    assert v.spec.replicas == 3


def test_replicas_come_from_the_vertex_spec_clamped_to_its_bounds() -> None:
    assert plan_pods(vertex(9, scale={"min": 1, "max": 4}), [], H1, T0).creates == [0, 1, 2, 3]
    assert plan_pods(vertex(None, scale={"min": 2, "max": 4}), [], H1, T0).creates == [0, 1]
    assert plan_pods(vertex(9, scale={"disabled": True, "max": 4}), [], H1, T0).creates == list(range(9))


def test_rolling_update_replaces_at_most_max_unavailable_and_waits_for_ready() -> None:
    pods = [pod(i) for i in range(4)]
    v = vertex(4, status=steady(4))
    first = plan_pods(v, pods, H2, T0)
    assert first.creates == [0] and first.deletes == ["pl-cat-0-aaaaa"]
    assert (first.status.updated_replicas, first.status.current_hash, first.status.update_hash) == (1, H1, H2)
    pods = [pod(0, H2, ready=False, suffix="bbbbb"), *pods[1:]]
    v.status = first.status
    waiting = plan_pods(v, pods, H2, T0)
    assert (waiting.creates, waiting.deletes) == ([], [])
    pods[0] = pod(0, H2, suffix="bbbbb")
    v.status = waiting.status
    second = plan_pods(v, pods, H2, T0)
    assert second.creates == [1] and second.deletes == ["pl-cat-1-aaaaa"]
    assert second.status.updated_replicas == 2


def test_a_rolling_update_finishes_with_the_new_hash_current() -> None:
    v = vertex(2, status={**steady(2), "updateHash": H2, "updatedReplicas": 1, "updatedReadyReplicas": 1})
    plan = plan_pods(v, [pod(0, H2), pod(1, H1)], H2, T0)
    assert plan.creates == [1] and plan.deletes == ["pl-cat-1-aaaaa"]
    assert (plan.status.updated_replicas, plan.status.current_hash) == (2, H2)


@pytest.mark.parametrize(("max_unavailable", "step"), [("50%", 2), (3, 3), ("0%", 1), ("25%", 1)])
def test_max_unavailable_bounds_each_step(max_unavailable: Any, step: int) -> None:
    v = vertex(4, status=steady(4), max_unavailable=max_unavailable)
    plan = plan_pods(v, [pod(i) for i in range(4)], H2, T0)
    assert plan.creates == list(range(step))


def test_failed_pods_are_replaced_and_deleted() -> None:
    v = vertex(2, status=steady(2))
    plan = plan_pods(v, [pod(0), pod(1, phase="Failed", ready=False)], H1, T0)
    assert plan.creates == [1] and plan.deletes == ["pl-cat-1-aaaaa"]


def test_pods_being_deleted_are_left_alone_and_their_replica_recreated() -> None:
    v = vertex(2, status=steady(2))
    plan = plan_pods(v, [pod(0), pod(1, deleting=True)], H1, T0)
    assert plan.creates == [1] and plan.deletes == []


def test_duplicates_and_pods_without_a_replica_index_are_removed() -> None:
    v = vertex(1, status=steady(1))
    pods = [pod(0, created="2026-01-01T00:00:01Z", suffix="bbbbb"), pod(0), pod(None, suffix="zzzzz")]
    plan = plan_pods(v, pods, H1, T0)
    assert plan.creates == []
    assert sorted(plan.deletes) == ["pl-cat-0-bbbbb", "pl-cat-None-zzzzz"]


def test_replica_annotation_parsing() -> None:
    assert replica_of(pod(3)) == 3
    assert replica_of(pod(None)) is None
    bad = pod(1)
    bad["metadata"]["annotations"][c.KEY_REPLICA] = "-1"
    assert replica_of(bad) is None


# --- status ------------------------------------------------------------------------------------------


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "containerStatuses": [{"name": "numa", "state": {"waiting": {"reason": reason, "message": message}}}]
    }


@pytest.mark.parametrize(
    "reason",
    [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImageInspectError",
        "RunContainerError",
        "ImageNotRunnableLocally",
    ],
)
def test_unhealthy_waiting_reasons_become_pod_reasons(reason: str) -> None:
    health = pods_health([pod(0, **waiting(reason, "why"))], T0)
    assert (health.ok, health.reason) == (False, f"Pod{reason}")
    assert health.message == f"Pod pl-cat-0-aaaaa is unhealthy: container numa: {reason}: why"


def test_image_not_runnable_locally_says_how_to_map_it_in_the_vertex_status() -> None:
    hint = 'image "my-sink:latest" cannot run on this machine: ... map the image to a local command'
    v = vertex(1, status=steady(1))
    bad = pod(
        0,
        ready=False,
        initContainerStatuses=[
            {"name": "udsink", "state": {"waiting": {"reason": "ImageNotRunnableLocally", "message": hint}}}
        ],
    )
    result = vertex_status(v, plan_pods(v, [bad], H1, T0).status, [bad], T0)
    st = result.status
    assert st.reason == "PodImageNotRunnableLocally"
    assert (
        st.message
        == f"Degraded: Pod pl-cat-0-aaaaa is unhealthy: container udsink: ImageNotRunnableLocally: {hint}"
    )
    assert not st.is_healthy()


def test_terminated_with_error_is_unhealthy_and_a_recent_kill_is_rechecked_in_a_minute() -> None:
    errored = pod(
        0, containerStatuses=[{"name": "numa", "state": {"terminated": {"reason": "Error", "exitCode": 2}}}]
    )
    assert pods_health([errored], T0).reason == "PodError"
    killed = pod(
        0,
        containerStatuses=[
            {
                "name": "numa",
                "state": {"running": {}},
                "lastState": {
                    "terminated": {"exitCode": 137, "finishedAt": format_time(T0 - timedelta(seconds=30))}
                },
            }
        ],
    )
    recent = pods_health([killed], T0)
    assert (recent.ok, recent.reason, recent.requeue_after) == (False, "PodRecentRestart", 60.0)
    assert pods_health([killed], T0 + timedelta(minutes=3)).ok


def test_no_pods_is_healthy() -> None:
    health = pods_health([pod(0, deleting=True)], T0)
    assert (health.ok, health.reason, health.message) == (True, "NoPodsFound", "No Pods found")


def test_status_counts_ready_pods_capped_at_desired_and_follows_the_desired_phase() -> None:
    v = vertex(2, status=steady(3))
    pods = [pod(0), pod(1), pod(2)]
    plan = plan_pods(v, pods, H1, T0)
    st = vertex_status(v, plan.status, pods, T0).status
    assert (st.ready_replicas, st.replicas, st.phase, st.observed_generation) == (2, 2, "Running", 3)
    assert {cd.type: cd.status for cd in st.conditions or []} == {"Deployed": "True", "PodsHealthy": "True"}
    assert st.is_healthy()
    paused = vertex(2, paused=True, status=steady(2))
    st = vertex_status(paused, plan_pods(paused, pods, H1, T0).status, pods, T0).status
    assert (st.phase, st.ready_replicas) == ("Paused", 0)


def test_isb_problems_and_orchestration_errors_fail_the_vertex() -> None:
    v = vertex(1)
    st = vertex_status(v, None, [], T0, isb_missing=True, isb_problem="isbsvc default not found").status
    assert (st.phase, st.reason, st.message) == ("Failed", "ISBSvcNotFound", "isbsvc default not found")
    st = vertex_status(v, None, [], T0, isb_problem="isbsvc not healthy").status
    assert st.reason == "ISBSvcNotHealthy"
    st = vertex_status(v, None, [], T0, orchestrate_error="create pod: forbidden").status
    assert (st.phase, st.reason) == ("Failed", "OrchestratePodsFailed")
    assert {cd.type: cd.status for cd in st.conditions or []}["Deployed"] == "False"


def test_status_never_reads_the_pipeline() -> None:
    """Everything above is computed from the Vertex and its pods; a fresh status works too."""
    v = vertex(2)
    v.status = None
    plan = plan_pods(v, [], H1, T0)
    assert isinstance(vertex_status(v, plan.status, [], T0).status, VertexStatus)
    assert v.status is None, "planning does not mutate the observed vertex"
