"""buildVertices, the vertex create/update/delete plan, the ISB plan and the daemon objects."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from numaflux.api import InterStepBufferService, Pipeline, Vertex, VertexLifecycle
from numaflux.api import constants as c
from numaflux.api.sink import Blackhole
from numaflux.controller.pipeline.build import (
    build_vertices,
    plan_isb_resources,
    plan_vertex_updates,
    vertex_hash,
)
from numaflux.controller.pipeline.daemon import build_daemon_deployment, build_daemon_service
from numaflux.controller.pipeline.workload import IsbNotReady, isb_env

MARKER = "2026-01-01T12:00:00Z"


def pipeline(**spec_overrides: Any) -> Pipeline:
    spec: dict[str, Any] = {
        "vertices": [
            {"name": "in", "source": {"generator": {}}},
            {"name": "cat", "udf": {"container": {"image": "cat"}}, "scale": {"min": 2, "max": 4}},
            {"name": "out", "sink": {"log": {}}, "scale": {"min": 0, "max": 0}},
        ],
        "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out", "onFull": "discardLatest"}],
    }
    spec.update(spec_overrides)
    return Pipeline.model_validate(
        {"metadata": {"name": "pl", "namespace": "ns", "uid": "pl-uid"}, "spec": spec}
    )


def by_name(vs: list[Vertex]) -> dict[str, Vertex]:
    return {v.spec.get_name(): v for v in vs}


def test_each_vertex_is_named_labelled_and_owned_by_the_pipeline() -> None:
    cat = by_name(build_vertices(pipeline()))["cat"]
    assert cat.name == "pl-cat" and cat.namespace == "ns"
    assert cat.metadata.labels == {
        c.KEY_MANAGED_BY: "pipeline-controller",
        c.KEY_COMPONENT: "vertex",
        c.KEY_PART_OF: "numaflow",
        c.KEY_PIPELINE_NAME: "pl",
        c.KEY_VERTEX_NAME: "cat",
    }
    assert cat.metadata.owner_references == [
        {
            "apiVersion": c.GROUP_VERSION,
            "kind": "Pipeline",
            "name": "pl",
            "uid": "pl-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert cat.metadata.annotations == {c.KEY_HASH: vertex_hash(cat.spec)}


def test_edges_carry_types_partitions_and_merged_limits_of_both_ends() -> None:
    pl = pipeline(limits={"readBatchSize": 100})
    pl.spec.vertices[2].limits = pl.spec.vertices[2].limits or None  # type: ignore[index]
    vs = by_name(build_vertices(pl))
    (to_out,) = vs["cat"].spec.to_edges or []
    assert (to_out.from_, to_out.to, to_out.on_full) == ("cat", "out", "discardLatest")
    assert (to_out.from_vertex_type, to_out.to_vertex_type) == ("MapUDF", "Sink")
    assert (to_out.from_vertex_partition_count, to_out.to_vertex_partition_count) == (1, 1)
    assert to_out.to_vertex_limits is not None and to_out.to_vertex_limits.read_batch_size == 100
    assert to_out.to_vertex_ordered is False
    assert vs["in"].spec.from_edges is None
    assert [e.from_ for e in vs["out"].spec.from_edges or []] == ["cat"]


def test_spec_copies_pipeline_fields_and_the_desired_phase() -> None:
    pl = pipeline(
        interStepBufferServiceName="isb",
        watermark={"disabled": True},
        interStepBuffer={"compression": {"type": "gzip"}},
        lifecycle={"desiredPhase": "Paused"},
    )
    cat = by_name(build_vertices(pl))["cat"]
    assert cat.spec.pipeline_name == "pl"
    assert cat.spec.inter_step_buffer_service_name == "isb"
    assert cat.spec.watermark is not None and cat.spec.watermark.disabled is True
    assert cat.spec.inter_step_buffer is not None and cat.spec.inter_step_buffer.compression.type == "gzip"  # type: ignore[union-attr]
    assert cat.spec.get_lifecycle().get_desired_phase() == "Paused"
    assert cat.spec.limits is not None and cat.spec.limits.buffer_max_length == 30000


@pytest.mark.parametrize(
    ("vertex", "expected"),
    [
        ({"name": "cat", "udf": {"container": {"image": "x"}}}, 1),
        ({"name": "cat", "udf": {"container": {"image": "x"}}, "scale": {"min": 3, "max": 5}}, 3),
        ({"name": "cat", "udf": {"container": {"image": "x"}}, "scale": {"min": 0, "max": 0}}, 0),
        (
            {
                "name": "cat",
                "udf": {"container": {"image": "x"}, "groupBy": {"keyed": True, "window": {"fixed": {}}}},
                "partitions": 3,
            },
            3,
        ),
    ],
)
def test_built_replicas_follow_the_rule_and_never_the_lifecycle(
    vertex: dict[str, Any], expected: int
) -> None:
    for lifecycle in ({}, {"desiredPhase": "Paused"}):
        pl = pipeline(
            vertices=[
                {"name": "in", "source": {"generator": {}}},
                vertex,
                {"name": "out", "sink": {"log": {}}},
            ],
            edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
            lifecycle=lifecycle,
        )
        pl.metadata.annotations = {c.KEY_PAUSE_TIMESTAMP: MARKER} if lifecycle else None
        assert by_name(build_vertices(pl))["cat"].spec.replicas == expected


def test_ordered_map_runs_one_pod_per_partition_with_autoscaling_off_and_concurrency_one() -> None:
    pl = pipeline(ordered={"enabled": True})
    pl.spec.vertices[1].partitions = 3  # type: ignore[index]
    vs = by_name(build_vertices(pl))
    cat = vs["cat"]
    assert cat.spec.replicas == 3
    assert cat.spec.scale is not None and (
        cat.spec.scale.disabled,
        cat.spec.scale.min,
        cat.spec.scale.max,
    ) == (True, 3, 3)
    assert cat.spec.limits is not None and cat.spec.limits.concurrency == 1
    assert cat.spec.ordered is not None and cat.spec.ordered.enabled is True
    assert vs["in"].spec.ordered is not None and vs["in"].spec.ordered.enabled is True
    (edge,) = vs["in"].spec.to_edges or []
    assert edge.to_vertex_ordered is True and edge.to_vertex_partition_count == 3


def test_vertex_template_fills_what_the_vertex_leaves_unset() -> None:
    pl = pipeline(
        templates={
            "vertex": {
                "nodeSelector": {"zone": "a", "disk": "ssd"},
                "priority": 5,
                "containerTemplate": {"resources": {"limits": {"cpu": "1"}}},
            }
        }
    )
    pl.spec.vertices[1].node_selector = {"zone": "b"}  # type: ignore[index]
    cat = by_name(build_vertices(pl))["cat"]
    assert cat.spec.node_selector == {"zone": "b", "disk": "ssd"}
    assert cat.spec.priority == 5
    assert cat.spec.container_template is not None
    assert cat.spec.container_template.resources == {"limits": {"cpu": "1"}}


def test_instance_annotation_is_copied() -> None:
    pl = pipeline()
    pl.metadata.annotations = {c.KEY_INSTANCE: "shard-1"}
    assert build_vertices(pl)[0].metadata.annotation(c.KEY_INSTANCE) == "shard-1"


def test_hash_changes_with_the_spec_but_not_with_replicas_or_lifecycle() -> None:
    a = by_name(build_vertices(pipeline()))["cat"]
    b = a.model_copy(deep=True)
    b.spec.replicas, b.spec.lifecycle = 9, VertexLifecycle(desired_phase="Paused")
    assert vertex_hash(b.spec) == vertex_hash(a.spec)
    b.spec.udf.container.args = ["--x"]  # type: ignore[union-attr]
    assert vertex_hash(b.spec) != vertex_hash(a.spec)


# --- plan_vertex_updates ---------------------------------------------------------------------------


def existing(
    pl: Pipeline,
    phases: dict[str, str] | None = None,
    replicas: dict[str, int | None] | None = None,
) -> list[Vertex]:
    vs = build_vertices(pl)
    for v in vs:
        name = v.spec.get_name()
        v.metadata.resource_version = "7"
        if phases and name in phases:
            v.spec.lifecycle = VertexLifecycle(desired_phase=phases[name])
        if replicas and name in replicas:
            v.spec.replicas = replicas[name]
    return vs


def changed(pl: Pipeline) -> Pipeline:
    out = pl.model_copy(deep=True)
    out.spec.vertices[1].udf.container.args = ["new"]  # type: ignore[index,union-attr]
    out.spec.vertices[2].udf = None  # type: ignore[index]
    return out


def test_a_new_pipeline_creates_every_vertex_running() -> None:
    plan = plan_vertex_updates(pipeline(), [])
    assert [v.name for v in plan.creates] == ["pl-in", "pl-cat", "pl-out"]
    assert {v.spec.get_lifecycle().get_desired_phase() for v in plan.creates} == {"Running"}
    assert plan.updates == [] and plan.deletes == []


def test_a_pipeline_created_paused_creates_every_vertex_paused() -> None:
    plan = plan_vertex_updates(pipeline(lifecycle={"desiredPhase": "Paused"}), [])
    assert {v.spec.get_lifecycle().get_desired_phase() for v in plan.creates} == {"Paused"}
    assert [v.spec.replicas for v in plan.creates] == [1, 2, 0]


def test_an_unchanged_pipeline_plans_nothing() -> None:
    pl = pipeline()
    plan = plan_vertex_updates(pl, existing(pl, replicas={"cat": 4}))
    assert (plan.creates, plan.updates, plan.deletes) == ([], [], [])


def test_an_update_keeps_replicas_within_bounds_and_resets_them_outside() -> None:
    pl = pipeline()
    old = existing(pl, replicas={"in": None, "cat": 3, "out": 7})
    plan = plan_vertex_updates(changed(pl), old)
    got = {v.spec.get_name(): v.spec.replicas for v in plan.updates}
    assert got == {"cat": 3}
    pl2 = changed(pl)
    pl2.spec.vertices[2].sink.log = None  # type: ignore[index,union-attr]
    pl2.spec.vertices[2].sink.blackhole = Blackhole()  # type: ignore[index,union-attr]
    pl2.spec.vertices[0].source.generator.rpu = 9  # type: ignore[index,union-attr]
    got = {v.spec.get_name(): v.spec.replicas for v in plan_vertex_updates(pl2, old).updates}
    assert got == {"in": None, "cat": 3, "out": 0}


def test_an_update_keeps_resource_version_and_takes_the_new_hash() -> None:
    pl = pipeline()
    (update,) = plan_vertex_updates(changed(pl), existing(pl)).updates
    assert update.metadata.resource_version == "7"
    assert update.metadata.annotation(c.KEY_HASH) == vertex_hash(update.spec)
    assert update.spec.udf.container.args == ["new"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("desired", "marker", "old_phase", "expected"),
    [
        ("Running", False, "Paused", "Running"),
        ("Running", False, "Running", "Running"),
        ("Paused", False, "Running", "Running"),  # pause requested: only the lifecycle pauses, sources first
        ("Paused", True, "Running", "Running"),  # draining: a non-source keeps running
        ("Paused", True, "Paused", "Paused"),  # paused: stays paused
        ("Running", True, "Paused", "Paused"),  # resume pending: the resume (with its strategy) does it
    ],
)
def test_an_update_keeps_the_vertex_lifecycle_during_a_transition(
    desired: str, marker: bool, old_phase: str, expected: str
) -> None:
    pl = pipeline(lifecycle={"desiredPhase": desired})
    pl.metadata.annotations = {c.KEY_PAUSE_TIMESTAMP: MARKER} if marker else None
    (update,) = plan_vertex_updates(changed(pl), existing(pl, {"cat": old_phase})).updates
    assert update.spec.get_lifecycle().get_desired_phase() == expected


def test_a_vertex_added_during_a_drain_runs_and_one_added_while_paused_is_paused() -> None:
    pl = pipeline(lifecycle={"desiredPhase": "Paused"})
    pl.metadata.annotations = {c.KEY_PAUSE_TIMESTAMP: MARKER}
    bigger = pl.model_copy(deep=True)
    bigger.spec.vertices.insert(2, bigger.spec.vertices[1].model_copy(update={"name": "cat2"}))  # type: ignore[union-attr]
    bigger.spec.edges = [e for e in bigger.spec.edges or [] if e.to != "out"]
    bigger.spec.edges += [e.model_copy(update={"from_": "cat", "to": "cat2"}) for e in pl.spec.edges[:1]]  # type: ignore[index]
    bigger.spec.edges += [e.model_copy(update={"from_": "cat2", "to": "out"}) for e in pl.spec.edges[:1]]  # type: ignore[index]
    draining = plan_vertex_updates(bigger, existing(pl, {"in": "Paused", "cat": "Running", "out": "Running"}))
    assert [(v.name, v.spec.get_lifecycle().get_desired_phase()) for v in draining.creates] == [
        ("pl-cat2", "Running")
    ]
    paused = plan_vertex_updates(bigger, existing(pl, {"in": "Paused", "cat": "Paused", "out": "Paused"}))
    assert [(v.name, v.spec.get_lifecycle().get_desired_phase()) for v in paused.creates] == [
        ("pl-cat2", "Paused")
    ]


def test_stale_vertices_are_deleted() -> None:
    pl = pipeline()
    old = existing(pl)
    smaller = pipeline(
        vertices=[{"name": "in", "source": {"generator": {}}}, {"name": "out", "sink": {"log": {}}}],
        edges=[{"from": "in", "to": "out"}],
    )
    plan = plan_vertex_updates(smaller, old)
    assert plan.deletes == ["pl-cat"]
    assert [v.name for v in plan.resulting(old)] == ["pl-in", "pl-out"]


def test_resulting_vertices_include_creates_and_updates() -> None:
    pl = pipeline()
    old = existing(pl)[:2]
    plan = plan_vertex_updates(changed(pl), old)
    result = {v.name: v for v in plan.resulting(old)}
    assert set(result) == {"pl-in", "pl-cat", "pl-out"}
    assert result["pl-cat"].spec.udf.container.args == ["new"]  # type: ignore[union-attr]


# --- ISB plan ------------------------------------------------------------------------------------------


def test_isb_plan_ensures_every_buffer_and_bucket_and_drops_the_removed_ones() -> None:
    pl = pipeline()
    old = existing(pl)
    assert plan_isb_resources(pl, []).buffers == ["ns-pl-cat-0", "ns-pl-out-0"]
    same = plan_isb_resources(pl, old)
    assert same.buckets == ["ns-pl-in-cat", "ns-pl-cat-out", "ns-pl-in_SOURCE", "ns-pl-out_SINK"]
    assert (same.delete_buffers, same.delete_buckets) == ([], [])
    smaller = pipeline(
        vertices=[{"name": "in", "source": {"generator": {}}}, {"name": "out", "sink": {"log": {}}}],
        edges=[{"from": "in", "to": "out"}],
    )
    plan = plan_isb_resources(smaller, old)
    assert plan.delete_buffers == ["ns-pl-cat-0"]
    assert plan.delete_buckets == ["ns-pl-cat-out", "ns-pl-in-cat"]
    assert plan.buckets == ["ns-pl-in-out", "ns-pl-in_SOURCE", "ns-pl-out_SINK"]


def test_isb_plan_counts_partitions_and_side_inputs_store() -> None:
    pl = pipeline(
        sideInputs=[{"name": "s", "container": {"image": "x"}, "trigger": {"schedule": "@every 5s"}}]
    )
    pl.spec.vertices[1].partitions = 2  # type: ignore[index]
    plan = plan_isb_resources(pl, [])
    assert plan.buffers == ["ns-pl-cat-0", "ns-pl-cat-1", "ns-pl-out-0"]
    assert plan.side_inputs_store == "ns-pl"


@pytest.mark.parametrize(
    "example",
    [
        "1-simple-pipeline.yaml",
        "2-even-odd-pipeline.yaml",
        "6-reduce-fixed-window.yaml",
        "10-cycle-to-self.yaml",
        "14-simple-fallback-pipeline.yaml",
    ],
)
def test_upstream_examples_build_one_vertex_each_with_a_stable_hash(
    example: str, shared_examples_dir: Any
) -> None:
    doc = yaml.safe_load((shared_examples_dir / example).read_text())
    doc["metadata"]["namespace"] = "default"
    pl = Pipeline.model_validate(doc)
    vs = build_vertices(pl)
    assert [v.spec.get_name() for v in vs] == [v.get_name() for v in pl.vertices]
    assert [v.metadata.annotation(c.KEY_HASH) for v in vs] == [
        v.metadata.annotation(c.KEY_HASH) for v in build_vertices(pl)
    ]
    for v in vs:
        assert Vertex.model_validate(v.model_dump(mode="json", by_alias=True, exclude_none=True)) == v


# --- daemon ---------------------------------------------------------------------------------------------


def isb(config: dict[str, Any] | None) -> InterStepBufferService:
    return InterStepBufferService.model_validate(
        {
            "metadata": {"name": "default", "namespace": "ns"},
            "spec": {"jetstream": {}},
            "status": {"config": {"jetstream": config}} if config is not None else None,
        }
    )


def test_isb_env_points_at_the_service_url_with_credentials_from_secrets() -> None:
    env = isb_env(
        isb(
            {
                "url": "nats://127.0.0.1:4222",
                "auth": {"basic": {"user": {"name": "s", "key": "u"}, "password": {"name": "s", "key": "p"}}},
            }
        )
    )
    assert env == [
        {"name": "NUMAFLOW_ISBSVC_TYPE", "value": "jetstream"},
        {"name": "NUMAFLOW_ISBSVC_JETSTREAM_URL", "value": "nats://127.0.0.1:4222"},
        {"name": "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED", "value": "false"},
        {"name": "NUMAFLOW_ISBSVC_JETSTREAM_USER", "valueFrom": {"secretKeyRef": {"name": "s", "key": "u"}}},
        {
            "name": "NUMAFLOW_ISBSVC_JETSTREAM_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}},
        },
    ]
    with pytest.raises(IsbNotReady, match=r"isbsvc default: status\.config\.jetstream\.url is not set yet"):
        isb_env(isb(None))


def test_daemon_deployment_runs_our_image_with_the_pipeline_minus_its_lifecycle() -> None:
    pl = pipeline(
        lifecycle={"desiredPhase": "Paused"},
        templates={"daemon": {"replicas": 2, "nodeSelector": {"a": "b"}}},
    )
    env = isb_env(isb({"url": "nats://x:4222"}))
    dep = build_daemon_deployment(pl, env, "quay.io/numaproj/numaflow:v1")
    assert dep["metadata"]["name"] == "pl-daemon"
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"a": "b"}
    (main,) = pod["containers"]
    assert (main["image"], main["args"]) == ("quay.io/numaproj/numaflow:v1", ["daemon"])
    encoded = next(e["value"] for e in main["env"] if e["name"] == "NUMAFLOW_PIPELINE_OBJECT")
    decoded = json.loads(base64.b64decode(encoded))
    assert "lifecycle" not in decoded["spec"] and decoded["metadata"] == {"name": "pl", "namespace": "ns"}
    assert Pipeline.model_validate(decoded).spec.vertices == pl.spec.vertices
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 4327, "scheme": "HTTP"}
    assert {"name": "NUMAFLOW_ISBSVC_JETSTREAM_URL", "value": "nats://x:4222"} in main["env"]
    running = pl.model_copy(deep=True)
    running.spec.lifecycle = None
    assert (
        build_daemon_deployment(running, env, "quay.io/numaproj/numaflow:v1")["metadata"]["annotations"]
        == (dep["metadata"]["annotations"])
    ), "pausing never changes (and so never restarts) the daemon"


def test_daemon_service_exposes_4327_to_the_daemon_pods() -> None:
    svc = build_daemon_service(pipeline())
    assert svc["metadata"]["name"] == "pl-daemon-svc"
    assert svc["spec"]["ports"] == [{"name": "tcp", "port": 4327, "targetPort": 4327}]
    assert svc["spec"]["selector"][c.KEY_COMPONENT] == "daemon"
