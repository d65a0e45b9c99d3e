"""Self-repair checks: each finding is fixed (or re-queued) and reported with an Event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from numaflux.api import Pipeline, Vertex, VertexLifecycle, VertexStatus
from numaflux.api import constants as c
from numaflux.controller.pipeline.actions import VertexPatch
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.pipeline.repair import RepairSettings, check_consistency

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pipeline(desired: str = "Running", marker: bool = False, deleting: bool = False) -> Pipeline:
    meta: dict[str, object] = {"name": "pl", "namespace": "ns"}
    if marker:
        meta["annotations"] = {c.KEY_PAUSE_TIMESTAMP: "2026-01-01T00:00:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Pipeline.model_validate(
        {
            "metadata": meta,
            "spec": {
                "lifecycle": {"desiredPhase": desired},
                "vertices": [
                    {"name": "in", "source": {"generator": {}}},
                    {"name": "out", "sink": {"log": {}}},
                ],
                "edges": [{"from": "in", "to": "out"}],
            },
        }
    )


def vertices(
    pl: Pipeline,
    phase: str = "Running",
    generation: int = 1,
    observed: int = 1,
    replicas: int = 1,
) -> list[Vertex]:
    out = build_vertices(pl)
    for v in out:
        v.spec.lifecycle = VertexLifecycle(desired_phase=phase)
        v.metadata.generation = generation
        v.status = VertexStatus(observed_generation=observed, replicas=replicas)
    return out


def test_a_running_pipeline_with_a_paused_vertex_sets_it_running_and_says_so() -> None:
    pl = pipeline()
    vs = vertices(pl)
    vs[1].spec.lifecycle = VertexLifecycle(desired_phase="Paused")
    vs[1].status = VertexStatus(observed_generation=1, replicas=0)
    r = check_consistency(pl, vs, live_pods={}, lagging_since={}, now=T0)
    assert r.vertex_patches == [VertexPatch("pl-out", "Running")]
    (event,) = r.events
    assert (event.type, event.reason) == ("Warning", "RepairedVertexDesiredPhase")
    assert event.message == (
        "Vertex pl-out was Paused while the pipeline is Running with no pause in progress; set it Running"
    )


def test_paused_vertices_during_a_pause_or_pending_resume_are_left_to_the_lifecycle() -> None:
    for pl in (pipeline("Paused", marker=True), pipeline("Paused"), pipeline("Running", marker=True)):
        r = check_consistency(pl, vertices(pl, "Paused", replicas=0), live_pods={}, lagging_since={}, now=T0)
        assert r.vertex_patches == [] and r.events == []


def test_pods_left_on_a_paused_vertex_are_reported_and_the_vertex_requeued() -> None:
    pl = pipeline("Paused", marker=True)
    vs = vertices(pl, "Paused", replicas=0)
    r = check_consistency(pl, vs, live_pods={"pl-in": 2}, lagging_since={}, now=T0)
    assert r.requeue_vertices == ["pl-in"]
    (event,) = r.events
    assert event.reason == "PodsLeftWhilePaused"
    assert event.message == (
        "Vertex pl-in is Paused but status.replicas=0 and 2 pods remain; re-queued it so its pods are removed"
    )


def test_pods_of_a_vertex_whose_controller_has_not_seen_the_pause_yet_are_not_reported() -> None:
    pl = pipeline("Paused", marker=True)
    vs = vertices(pl, "Paused", generation=2, observed=1, replicas=1)
    r = check_consistency(pl, vs, live_pods={"pl-in": 1, "pl-out": 1}, lagging_since={}, now=T0)
    assert [e.reason for e in r.events] == []
    assert r.lagging_since == {"pl-in": T0, "pl-out": T0}


def test_a_status_lagging_longer_than_the_threshold_is_reported_once_per_threshold() -> None:
    pl = pipeline()
    vs = vertices(pl, generation=5, observed=3)
    first = check_consistency(pl, vs, live_pods={}, lagging_since={}, now=T0)
    assert first.events == [] and first.lagging_since == {"pl-in": T0, "pl-out": T0}
    later = T0 + timedelta(seconds=31)
    second = check_consistency(
        pl,
        vs,
        live_pods={},
        lagging_since=first.lagging_since,
        now=later,
        settings=RepairSettings(status_lag_seconds=30),
    )
    assert [e.reason for e in second.events] == ["RepairedVertexStatusLag"] * 2
    assert second.events[0].message == (
        "Vertex pl-in status lags its spec (observedGeneration 3 < generation 5) "
        "for 31s; re-queued its reconcile"
    )
    assert second.requeue_vertices == ["pl-in", "pl-out"]
    assert second.lagging_since == {"pl-in": later, "pl-out": later}
    third = check_consistency(
        pl, vs, live_pods={}, lagging_since=second.lagging_since, now=later + timedelta(seconds=5)
    )
    assert third.events == []


def test_a_vertex_that_caught_up_is_forgotten() -> None:
    pl = pipeline()
    r = check_consistency(pl, vertices(pl), live_pods={}, lagging_since={"pl-in": T0}, now=T0)
    assert r.lagging_since == {}


def test_nothing_is_repaired_while_deleting() -> None:
    pl = pipeline(deleting=True)
    vs = vertices(pl, "Paused", generation=9, observed=1)
    r = check_consistency(pl, vs, live_pods={"pl-in": 3}, lagging_since={}, now=T0 + timedelta(hours=1))
    assert (r.vertex_patches, r.events, r.requeue_vertices) == ([], [], [])
