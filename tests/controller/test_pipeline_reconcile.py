"""plan_pipeline (one whole Pipeline reconcile) and plan_vertex (one Vertex reconcile), alone and together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from numaflux.api import InterStepBufferService, Pipeline, Vertex, VertexLifecycle
from numaflux.api import constants as c
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.pipeline.lifecycle import FINALIZER
from numaflux.controller.pipeline.reconcile import PipelineObserved, plan_pipeline
from numaflux.controller.vertex.reconcile import VertexObserved, plan_vertex
from numaflux.isb.info import BufferInfo

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
IMAGE = "quay.io/numaproj/numaflow:test"


def pipeline(desired: str = "Running", marker: bool = False, finalizer: bool = True, **meta: Any) -> Pipeline:
    annotations = {c.KEY_PAUSE_TIMESTAMP: "2026-01-01T11:00:00Z"} if marker else {}
    return Pipeline.model_validate(
        {
            "metadata": {
                "name": "pl",
                "namespace": "ns",
                "uid": "u",
                "generation": 1,
                "annotations": annotations,
                "finalizers": [FINALIZER] if finalizer else [],
                **meta,
            },
            "spec": {
                "lifecycle": {"desiredPhase": desired, "pauseGracePeriodSeconds": 10},
                "vertices": [
                    {"name": "in", "source": {"generator": {}}},
                    {"name": "cat", "udf": {"container": {"image": "cat"}}, "scale": {"min": 2, "max": 3}},
                    {"name": "out", "sink": {"log": {}}},
                ],
                "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
            },
        }
    )


def healthy_isb() -> InterStepBufferService:
    isb = InterStepBufferService.model_validate(
        {
            "metadata": {"name": "default", "namespace": "ns"},
            "spec": {"jetstream": {}},
            "status": {"config": {"jetstream": {"url": "nats://127.0.0.1:4222"}}},
        }
    )
    st = isb.get_status()
    st.mark_configured(T0)
    st.mark_deployed(T0)
    st.mark_children_healthy(T0)
    return isb


def observed(
    pl: Pipeline, vertices: list[Vertex] | None = None, isb: InterStepBufferService | None = None, **kw: Any
) -> PipelineObserved:
    base: dict[str, Any] = {
        "source_pods_running": False,
        "live_pods": {},
        "daemon_deployment": None,
        "buffers": {b: BufferInfo(b, 0, 0, 0, 30000, 0.8) for b in pl.all_buffers()},
    }
    base.update(kw)
    return PipelineObserved(pipeline=pl, vertices=vertices or [], isb=isb, **base)


def test_a_new_pipeline_plans_its_finalizer_buffers_vertices_and_daemon() -> None:
    plan = plan_pipeline(observed(pipeline(finalizer=False), isb=healthy_isb()), T0, image=IMAGE)
    assert plan.add_finalizer
    assert plan.isb is not None and plan.isb.buffers == ["ns-pl-cat-0", "ns-pl-out-0"]
    assert plan.vertices is not None and [v.name for v in plan.vertices.creates] == [
        "pl-in",
        "pl-cat",
        "pl-out",
    ]
    assert plan.daemon_deployment is not None and plan.daemon_deployment["metadata"]["name"] == "pl-daemon"
    assert plan.daemon_service is not None
    assert [e.reason for e in plan.events] == ["CreateVertexSuccess"] * 3
    assert plan.status.phase == "Running"
    assert plan.status.message == "Degraded: Deployment not found, might be still under creation"


def test_a_missing_isb_fails_the_pipeline_but_a_pending_resume_still_goes_out() -> None:
    pl = pipeline("Running", marker=True)
    vs = build_vertices(pl)
    for v in vs:
        v.spec.lifecycle = VertexLifecycle(desired_phase="Paused")
    plan = plan_pipeline(observed(pl, vs, isb=None, buffers=None, buffers_error="no isb"), T0, image=IMAGE)
    assert (plan.status.phase, plan.status.message) == ("Failed", "isbsvc default not found")
    assert plan.vertices is None and plan.isb is None and plan.daemon_deployment is None
    assert [(p.vertex, p.desired_phase) for p in plan.vertex_patches] == [
        ("pl-in", "Running"),
        ("pl-cat", "Running"),
        ("pl-out", "Running"),
    ]
    assert plan.lifecycle is not None and plan.lifecycle.annotations == {c.KEY_PAUSE_TIMESTAMP: None}
    assert plan.requeue_after == 10.0


def test_an_isb_without_a_url_yet_is_a_deploy_error() -> None:
    isb = healthy_isb()
    isb.get_status().config = None
    plan = plan_pipeline(observed(pipeline(), isb=isb), T0, image=IMAGE)
    assert plan.status.message == "isbsvc default: status.config.jetstream.url is not set yet"


def test_an_invalid_pipeline_fails_and_plans_nothing_else() -> None:
    pl = pipeline()
    pl.spec.edges = []
    plan = plan_pipeline(observed(pl, isb=healthy_isb()), T0, image=IMAGE)
    assert plan.status.phase == "Failed"
    assert {cd.type: cd.reason for cd in plan.status.conditions or []}["Configured"] == "InvalidSpec"
    assert plan.vertices is None and plan.lifecycle is None and plan.vertex_patches == []
    assert plan.events[0].reason == "InvalidSpec"


def test_repair_patches_join_the_lifecycle_patches_without_duplicates() -> None:
    pl = pipeline()
    vs = build_vertices(pl)
    vs[1].spec.lifecycle = VertexLifecycle(desired_phase="Paused")
    plan = plan_pipeline(observed(pl, vs, isb=healthy_isb()), T0, image=IMAGE)
    assert [(p.vertex, p.desired_phase) for p in plan.vertex_patches] == [("pl-cat", "Running")]
    assert "RepairedVertexDesiredPhase" in [e.reason for e in plan.events]


def test_deletion_without_our_finalizer_plans_nothing_and_with_it_drains_then_cleans_up() -> None:
    gone = pipeline(finalizer=False, deletionTimestamp="2026-01-01T12:00:00Z")
    plan = plan_pipeline(observed(gone, isb=healthy_isb()), T0, image=IMAGE)
    assert plan.lifecycle is None and plan.vertex_patches == []
    deleting = pipeline(deletionTimestamp="2026-01-01T12:00:00Z")
    vs = build_vertices(deleting)
    plan = plan_pipeline(observed(deleting, vs, isb=healthy_isb(), source_pods_running=True), T0, image=IMAGE)
    assert plan.status.phase == "Deleting"
    assert [(p.vertex, p.desired_phase) for p in plan.vertex_patches] == [("pl-in", "Paused")]
    vs[0].spec.lifecycle = VertexLifecycle(desired_phase="Paused")
    plan = plan_pipeline(observed(deleting, vs, isb=healthy_isb()), T0 + timedelta(seconds=1), image=IMAGE)
    assert plan.lifecycle is not None and plan.lifecycle.cleanup is not None


# --- both controllers together, applied to plain objects -------------------------------------------------


class Cluster:
    """Objects plus the two pure reconciles applied to them; pods become Ready as soon as created."""

    def __init__(self, pl: Pipeline) -> None:
        self.pl = pl
        self.vertices: dict[str, Vertex] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.now = T0
        self.counter = 0

    def suffix(self) -> str:
        self.counter += 1
        return f"{self.counter:05d}"

    def pods_of(self, vertex: str) -> list[dict[str, Any]]:
        return [p for p in self.pods.values() if p["metadata"]["labels"][c.KEY_VERTEX_NAME] == vertex]

    def round(self) -> None:
        sources = {v.spec.get_name() for v in self.vertices.values() if v.is_source()}
        plan = plan_pipeline(
            observed(
                self.pl,
                list(self.vertices.values()),
                isb=healthy_isb(),
                source_pods_running=any(self.pods_of(s) for s in sources),
            ),
            self.now,
            image=IMAGE,
        )
        assert plan.vertices is not None
        for v in plan.vertices.creates + plan.vertices.updates:
            v.metadata.generation = 1
            self.vertices[v.name] = v
        for p in plan.vertex_patches:
            self.vertices[p.vertex].spec.lifecycle = VertexLifecycle(desired_phase=p.desired_phase)
            if p.remove_replicas:
                self.vertices[p.vertex].spec.replicas = None
        assert plan.lifecycle is not None
        annotations = dict(self.pl.metadata.annotations or {})
        for k, val in plan.lifecycle.annotations.items():
            if val is None:
                annotations.pop(k, None)
            else:
                annotations[k] = val
        self.pl.metadata.annotations = annotations
        self.pl.status = plan.status
        for v in self.vertices.values():
            name = v.spec.get_name()
            vp = plan_vertex(
                VertexObserved(v, self.pods_of(name), list(self.services.values()), healthy_isb()),
                self.now,
                image=IMAGE,
                suffix=self.suffix,
            )
            for svc in vp.create_services:
                self.services[svc["metadata"]["name"]] = svc
            for pod in vp.create_pods:
                pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
                self.pods[pod["metadata"]["name"]] = pod
            for name_ in vp.delete_pods:
                del self.pods[name_]
            v.status = vp.status
        self.now += timedelta(seconds=1)

    def counts(self) -> dict[str, int]:
        return {v.spec.get_name(): len(self.pods_of(v.spec.get_name())) for v in self.vertices.values()}


def test_pipeline_and_vertex_reconciles_together_run_pause_and_resume_a_pipeline() -> None:
    cluster = Cluster(pipeline())
    for _ in range(3):
        cluster.round()
    assert cluster.counts() == {"in": 1, "cat": 2, "out": 1}
    assert sorted(cluster.services) == ["pl-cat-headless", "pl-in-headless", "pl-out-headless"]
    cluster.vertices["pl-cat"].spec.replicas = 3  # kubectl scale
    cluster.round()
    assert cluster.counts()["cat"] == 3
    cluster.pl.spec.lifecycle.desired_phase = "Paused"  # type: ignore[union-attr]
    for _ in range(4):
        cluster.round()
    assert cluster.counts() == {"in": 0, "cat": 0, "out": 0}
    assert (cluster.pl.status.phase, cluster.pl.status.drained_on_pause) == ("Paused", True)  # type: ignore[union-attr]
    cluster.pl.spec.lifecycle.desired_phase = "Running"  # type: ignore[union-attr]
    for _ in range(3):
        cluster.round()
    assert cluster.counts() == {"in": 1, "cat": 3, "out": 1}
    assert cluster.pl.metadata.annotation(c.KEY_PAUSE_TIMESTAMP) is None
    pods_before = set(cluster.pods)
    cluster.round()
    assert set(cluster.pods) == pods_before, "a converged cluster recreates nothing"
