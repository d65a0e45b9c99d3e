"""plan_vertex: services, pods and status of one Vertex reconcile."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from numaflux.api import InterStepBufferService, Pipeline, Vertex
from numaflux.api import constants as c
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.vertex.pods import build_headless_service
from numaflux.controller.vertex.reconcile import VertexObserved, plan_vertex

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
IMAGE = "quay.io/numaproj/numaflow:test"


def vertex(**vertex_fields: Any) -> Vertex:
    pl = Pipeline.model_validate(
        {
            "metadata": {"name": "pl", "namespace": "ns"},
            "spec": {
                "vertices": [
                    {"name": "in", "source": {"generator": {}}},
                    {"name": "out", "sink": {"log": {}}, "scale": {"min": 2, "max": 2}, **vertex_fields},
                ],
                "edges": [{"from": "in", "to": "out"}],
            },
        }
    )
    v = build_vertices(pl)[1]
    v.metadata.uid, v.metadata.generation = "vu", 1
    return v


def isb(url: str | None = "nats://127.0.0.1:4222", healthy: bool = True) -> InterStepBufferService:
    out = InterStepBufferService.model_validate(
        {
            "metadata": {"name": "default", "namespace": "ns"},
            "spec": {"jetstream": {}},
            "status": {"config": {"jetstream": {"url": url}}},
        }
    )
    if healthy:
        out.get_status().mark_configured(T0)
        out.get_status().mark_deployed(T0)
        out.get_status().mark_children_healthy(T0)
    return out


def names(suffixes: list[str]) -> Any:
    it = iter(suffixes)
    return lambda: next(it)


def test_first_reconcile_creates_the_headless_service_and_each_replica() -> None:
    plan = plan_vertex(
        VertexObserved(vertex(), [], [], isb()), T0, image=IMAGE, suffix=names(["aaaaa", "bbbbb"])
    )
    assert [s["metadata"]["name"] for s in plan.create_services] == ["pl-out-headless"]
    assert [p["metadata"]["name"] for p in plan.create_pods] == ["pl-out-0-aaaaa", "pl-out-1-bbbbb"]
    assert plan.delete_pods == [] and plan.delete_services == []
    assert plan.status is not None and (plan.status.replicas, plan.status.phase) == (2, "Running")
    assert [e.reason for e in plan.events] == ["ReplicasScaled"]


def test_a_changed_service_is_recreated_and_a_stale_one_deleted() -> None:
    v = vertex()
    svc = build_headless_service(v)
    changed = copy.deepcopy(svc)
    changed["metadata"]["annotations"][c.KEY_HASH] = "old"
    stale = {"metadata": {"name": "pl-out", "annotations": {}}}
    plan = plan_vertex(
        VertexObserved(v, [], [changed, stale], isb()), T0, image=IMAGE, suffix=names(["a", "b"])
    )
    assert plan.delete_services == ["pl-out-headless", "pl-out"]
    assert [s["metadata"]["name"] for s in plan.create_services] == ["pl-out-headless"]
    same = plan_vertex(VertexObserved(v, [], [svc], isb()), T0, image=IMAGE, suffix=names(["a", "b"]))
    assert (same.create_services, same.delete_services) == ([], [])


def test_a_changed_isb_url_rolls_the_pods() -> None:
    v = vertex()
    first = plan_vertex(VertexObserved(v, [], [], isb()), T0, image=IMAGE, suffix=names(["aaaaa", "bbbbb"]))
    pods = first.create_pods
    for p in pods:
        p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    v.status = first.status
    steady = plan_vertex(VertexObserved(v, pods, [], isb()), T0, image=IMAGE, suffix=names([]))
    assert (steady.create_pods, steady.delete_pods) == ([], [])
    moved = plan_vertex(
        VertexObserved(v, pods, [], isb("nats://127.0.0.9:4222")), T0, image=IMAGE, suffix=names(["ccccc"])
    )
    assert [p["metadata"]["name"] for p in moved.create_pods] == ["pl-out-0-ccccc"]
    assert moved.delete_pods == ["pl-out-0-aaaaa"]


def test_a_missing_or_unhealthy_isb_fails_the_vertex_and_touches_no_pod() -> None:
    missing = plan_vertex(VertexObserved(vertex(), [], [], None), T0, image=IMAGE)
    assert missing.status is not None
    assert (missing.status.phase, missing.status.reason) == ("Failed", "ISBSvcNotFound")
    assert missing.create_pods == [] and missing.requeue_after == 10.0
    assert [(e.type, e.reason, e.message) for e in missing.events] == [
        ("Warning", "ISBSvcNotFound", "isbsvc default not found")
    ]
    unhealthy = plan_vertex(VertexObserved(vertex(), [], [], isb(healthy=False)), T0, image=IMAGE)
    assert unhealthy.status is not None and unhealthy.status.reason == "ISBSvcNotHealthy"


def test_a_vertex_being_deleted_is_left_to_garbage_collection() -> None:
    v = vertex()
    v.metadata.deletion_timestamp = "2026-01-01T11:00:00Z"
    plan = plan_vertex(VertexObserved(v, [], [], isb()), T0, image=IMAGE)
    assert plan.status is None and plan.create_pods == [] and plan.create_services == []


def test_a_reduce_vertex_with_pvc_storage_gets_one_claim_per_partition_once() -> None:
    pl = Pipeline.model_validate(
        {
            "metadata": {"name": "pl", "namespace": "ns"},
            "spec": {
                "vertices": [
                    {"name": "in", "source": {"generator": {}}},
                    {
                        "name": "red",
                        "partitions": 2,
                        "udf": {
                            "container": {"image": "r"},
                            "groupBy": {
                                "keyed": True,
                                "window": {"fixed": {"length": "60s"}},
                                "storage": {
                                    "persistentVolumeClaim": {"volumeSize": "1Gi", "storageClassName": "fast"}
                                },
                            },
                        },
                    },
                    {"name": "out", "sink": {"log": {}}},
                ],
                "edges": [{"from": "in", "to": "red"}, {"from": "red", "to": "out"}],
            },
        }
    )
    red = build_vertices(pl)[1]
    plan = plan_vertex(VertexObserved(red, [], [], isb()), T0, image=IMAGE, suffix=names(["a", "b"]))
    assert [pvc["metadata"]["name"] for pvc in plan.create_claims] == ["pbq-vol-pl-red-0", "pbq-vol-pl-red-1"]
    assert plan.create_claims[0]["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "fast",
    }
    again = plan_vertex(
        VertexObserved(red, [], [], isb(), claims=["pbq-vol-pl-red-0", "pbq-vol-pl-red-1"]),
        T0,
        image=IMAGE,
        suffix=names(["a", "b"]),
    )
    assert again.create_claims == []
    assert [p["spec"]["volumes"][-1] for p in again.create_pods] == [
        {"name": "pbq-vol", "persistentVolumeClaim": {"claimName": "pbq-vol-pl-red-0"}},
        {"name": "pbq-vol", "persistentVolumeClaim": {"claimName": "pbq-vol-pl-red-1"}},
    ]
