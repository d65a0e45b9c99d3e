"""The controller's metrics collector on hand-filled caches: exact series per object, nothing from a
standby, and an object that does not parse is left out instead of failing the scrape."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from numaflux.api.scale import Scale
from numaflux.controller.informer import InformerFactory
from numaflux.controller.kube import ISB_SERVICE, PIPELINE, VERTEX
from numaflux.controller.metrics import registry_for

TRUE = [{"type": t, "status": "True"} for t in ("Configured", "Deployed", "ChildrenHealthy")]


def caches(*objects: tuple[Any, dict[str, Any]]) -> InformerFactory:
    factory = InformerFactory(kube=None)  # type: ignore[arg-type]  # the informers are never run
    for kind in (ISB_SERVICE, PIPELINE, VERTEX):
        factory.informer(kind)
    for kind, obj in objects:
        factory.informer(kind).store.upsert(obj)
    return factory


def series(factory: InformerFactory, leading: bool = True) -> dict[tuple[str, tuple[str, ...]], float]:
    text = generate_latest(registry_for(factory, lambda: leading)).decode()
    return {
        (s.name, tuple(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name != "controller_build_info"
    }


def vertex(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"pl-{name}", "namespace": "ns"},
        "spec": {"name": name, "pipelineName": "pl", "sink": {"log": {}}, **spec},
        "status": {"replicas": 2},
    }


def test_every_object_becomes_its_series_with_numaflow_names_and_labels() -> None:
    pipeline = {
        "metadata": {"name": "pl", "namespace": "ns"},
        "spec": {"lifecycle": {"desiredPhase": "Paused"}, "vertices": [], "edges": []},
        "status": {"phase": "Pausing"},
    }
    isb = {
        "metadata": {"name": "default", "namespace": "ns"},
        "spec": {"jetstream": {"version": "latest", "replicas": 5}},
        "status": {"phase": "Running", "conditions": TRUE},
    }
    got = series(
        caches(
            (PIPELINE, pipeline),
            (ISB_SERVICE, isb),
            (VERTEX, vertex("out", replicas=3, scale={"min": 1, "max": 4})),
            (VERTEX, vertex("low", replicas=9, scale={"min": 1, "max": 4})),
            (VERTEX, vertex("idle", replicas=3, lifecycle={"desiredPhase": "Paused"})),
        )
    )
    pl = ("ns=ns", "pipeline=pl")
    isbsvc = ("isbsvc=default", "ns=ns")

    def v(name: str) -> tuple[str, ...]:
        return ("ns=ns", "pipeline=pl", f"vertex={name}")

    assert got == {
        ("controller_isbsvc_health", isbsvc): 1,
        ("controller_isbsvc_jetstream_replicas", isbsvc): 5,
        ("controller_pipeline_health", pl): 1,  # Pausing counts as healthy, as NumaFlow's IsHealthy
        ("controller_pipeline_desired_phase", pl): 2,
        ("controller_pipeline_current_phase", pl): 4,
        ("controller_vertex_desired_replicas", v("out")): 3,
        ("controller_vertex_current_replicas", v("out")): 2,
        ("controller_vertex_min_replicas", v("out")): 1,
        ("controller_vertex_max_replicas", v("out")): 4,
        ("controller_vertex_desired_replicas", v("low")): 4,  # clamped to max
        ("controller_vertex_current_replicas", v("low")): 2,
        ("controller_vertex_min_replicas", v("low")): 1,
        ("controller_vertex_max_replicas", v("low")): 4,
        ("controller_vertex_desired_replicas", v("idle")): 0,  # paused
        ("controller_vertex_current_replicas", v("idle")): 2,
        ("controller_vertex_min_replicas", v("idle")): Scale().get_min_replicas(),  # the model's defaults
        ("controller_vertex_max_replicas", v("idle")): Scale().get_max_replicas(),
    }


def test_a_standby_reports_only_build_info_and_a_broken_object_is_skipped() -> None:
    broken = {"metadata": {"name": "pl-bad", "namespace": "ns"}, "spec": {"replicas": "many"}}
    factory = caches((VERTEX, vertex("out", replicas=1)), (VERTEX, broken))
    assert series(factory, leading=False) == {}
    got = series(factory)
    assert {labels[-1] for _, labels in got} == {"vertex=out"}
    text = generate_latest(registry_for(factory, lambda: False)).decode()
    assert "controller_build_info{" in text
