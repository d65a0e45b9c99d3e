"""Model behaviour: loading errors with NumaFlow-style paths, predicates, names, graph helpers, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from numaflux.api import (
    FieldError,
    MonoVertex,
    Pipeline,
    PipelineStatus,
    UnknownKindError,
    Vertex,
    VertexStatus,
    constants,
    field_errors_from_pydantic,
    load_object,
    render_path,
)
from numaflux.api.constants import MonoVertexPhase, PipelinePhase, VertexType
from numaflux.api.isbsvc import InterStepBufferServiceStatus

GV = "numaflow.numaproj.io/v1alpha1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _pipeline(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "vertices": [
            {"name": "in", "source": {"generator": {}}},
            {"name": "cat", "udf": {"container": {"image": "c"}}},
            {"name": "out", "sink": {"log": {}}},
        ],
        "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    }
    base.update(spec)
    return {"apiVersion": GV, "kind": "Pipeline", "metadata": {"name": "pl", "namespace": "ns"}, "spec": base}


def _errors(doc: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(ValidationError) as info:
        load_object(doc)
    return field_errors_from_pydantic(info.value)


# --- error paths ------------------------------------------------------------------------------------------


def test_unknown_field_in_a_vertex_scale_names_the_exact_path() -> None:
    doc = _pipeline()
    doc["spec"]["vertices"][1]["scale"] = {"mni": 1}
    assert _errors(doc) == [FieldError("spec.vertices[1].scale.mni", "unknown field")]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["spec"].update(bogus=1), "spec.bogus"),
        (lambda d: d["spec"]["vertices"][0].update(srouce={}), "spec.vertices[0].srouce"),
        (
            lambda d: d["spec"]["vertices"][0]["source"]["generator"].update(rate=3),
            "spec.vertices[0].source.generator.rate",
        ),
        (
            lambda d: d["spec"]["vertices"][1]["udf"].update(groupBy={"window": {"fixed": {"lenght": "1s"}}}),
            "spec.vertices[1].udf.groupBy.window.fixed.lenght",
        ),
        (lambda d: d["spec"]["edges"][1].update(condition={}), "spec.edges[1].condition"),
        (lambda d: d["spec"].update(limits={"readBatch": 1}), "spec.limits.readBatch"),
        (
            lambda d: d["spec"].update(watermark={"idleSource": {"treshold": "1s"}}),
            "spec.watermark.idleSource.treshold",
        ),
        (
            lambda d: d["spec"]["vertices"][2]["sink"].update(retryStrategy={"backoff": {"intervall": "1s"}}),
            "spec.vertices[2].sink.retryStrategy.backoff.intervall",
        ),
        (lambda d: d["spec"].update(templates={"daemon": {"replica": 1}}), "spec.templates.daemon.replica"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_unknown_fields_are_reported_at_every_nesting_level(mutate: Any, path: str) -> None:
    doc = _pipeline()
    mutate(doc)
    assert _errors(doc) == [FieldError(path, "unknown field")]


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (
            lambda d: d["spec"]["vertices"][1].update(scale={"min": "2"}),
            "spec.vertices[1].scale.min",
            "must be an integer",
        ),
        (
            lambda d: d["spec"]["vertices"][1].update(partitions=1.5),
            "spec.vertices[1].partitions",
            "must be an integer",
        ),
        (
            lambda d: d["spec"]["vertices"][1].update(scale={"disabled": "yes"}),
            "spec.vertices[1].scale.disabled",
            "must be a boolean",
        ),
        (lambda d: d["spec"]["vertices"][1].update(name=5), "spec.vertices[1].name", "must be a string"),
        (lambda d: d["spec"].update(vertices={}), "spec.vertices", "must be a list"),
        (
            lambda d: d["spec"]["vertices"][1]["udf"]["container"].update(env={"A": "b"}),
            "spec.vertices[1].udf.container.env",
            "must be a list",
        ),
    ],
)
def test_wrong_types_name_the_path(mutate: Any, path: str, message: str) -> None:
    doc = _pipeline()
    mutate(doc)
    assert _errors(doc) == [FieldError(path, message)]


@pytest.mark.parametrize(
    ("mutate", "path", "value"),
    [
        (lambda d: d["spec"]["edges"][0].update(onFull="dropOldest"), "spec.edges[0].onFull", "dropOldest"),
        (
            lambda d: d["spec"]["edges"][0].update(conditions={"tags": {"operator": "xor", "values": ["a"]}}),
            "spec.edges[0].conditions.tags.operator",
            "xor",
        ),
        (
            lambda d: d["spec"]["vertices"][2]["sink"].update(retryStrategy={"onFailure": "panic"}),
            "spec.vertices[2].sink.retryStrategy.onFailure",
            "panic",
        ),
    ],
)
def test_bad_enum_values_name_the_path_and_the_choices(mutate: Any, path: str, value: str) -> None:
    doc = _pipeline()
    mutate(doc)
    [err] = _errors(doc)
    assert err.path == path
    assert err.message.startswith(f"unsupported value {value!r}, must be one of ")


def test_bad_duration_names_the_path() -> None:
    doc = _pipeline(limits={"readTimeout": "soon"})
    assert _errors(doc) == [FieldError("spec.limits.readTimeout", "invalid duration 'soon'")]


def test_int_or_string_field_reports_one_error() -> None:
    doc = _pipeline()
    doc["spec"]["vertices"][1]["updateStrategy"] = {"rollingUpdate": {"maxUnavailable": 1.5}}
    assert _errors(doc) == [
        FieldError(
            "spec.vertices[1].updateStrategy.rollingUpdate.maxUnavailable", "must be an integer or a string"
        )
    ]


def test_all_errors_of_a_document_are_reported() -> None:
    doc = _pipeline()
    doc["spec"]["vertices"][0]["scale"] = {"mni": 1}
    doc["spec"]["edges"][0]["onFull"] = "x"
    paths = [e.path for e in _errors(doc)]
    assert paths == ["spec.vertices[0].scale.mni", "spec.edges[0].onFull"]


def test_error_paths_take_a_prefix() -> None:
    with pytest.raises(ValidationError) as info:
        Pipeline.model_validate({"spec": {"vertices": [{"nam": "x"}]}})
    assert [str(e) for e in field_errors_from_pydantic(info.value, prefix="doc[2]")] == [
        "doc[2].spec.vertices[0].nam: unknown field"
    ]


def test_render_path() -> None:
    assert render_path(("spec", "vertices", 1, "scale", "min")) == "spec.vertices[1].scale.min"
    assert render_path((0, "a")) == "[0].a"


def test_missing_vertex_spec_is_required() -> None:
    assert _errors({"apiVersion": GV, "kind": "Vertex", "metadata": {"name": "v"}}) == [
        FieldError("spec", "required field is missing")
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"apiVersion": GV, "kind": "Deployment"}, "kind: unsupported value 'Deployment'"),
        ({"apiVersion": "apps/v1", "kind": "Pipeline"}, "apiVersion: unsupported value 'apps/v1'"),
        ({"kind": "Pipeline"}, "apiVersion: unsupported value None"),
        (["not", "a", "mapping"], "document must be an object"),
    ],
)
def test_unknown_kinds_and_api_versions_are_clear_errors(doc: Any, message: str) -> None:
    with pytest.raises(UnknownKindError, match=message.replace("(", r"\(")):
        load_object(doc)


# --- predicates and helpers -------------------------------------------------------------------------------


def test_vertex_type_predicates() -> None:
    pl = load_object(
        _pipeline(
            vertices=[
                {"name": "in", "source": {"http": {}}},
                {"name": "m", "udf": {"container": {"image": "c"}}},
                {
                    "name": "r",
                    "udf": {"container": {"image": "r"}, "groupBy": {"window": {"fixed": {"length": "1s"}}}},
                },
                {"name": "out", "sink": {"log": {}}},
            ]
        )
    )
    assert isinstance(pl, Pipeline)
    types = [v.get_vertex_type() for v in pl.vertices]
    assert types == [VertexType.SOURCE, VertexType.MAP_UDF, VertexType.REDUCE_UDF, VertexType.SINK]
    assert [v.name for v in pl.sources()] == ["in"]
    assert [v.name for v in pl.sinks()] == ["out"]
    assert [v.name for v in pl.udfs()] == ["m", "r"]
    assert [v.name for v in pl.map_udfs()] == ["m"]
    assert [v.name for v in pl.reduce_udfs()] == ["r"]
    counts = pl.vertex_counts()
    assert (
        counts.vertices,
        counts.sources,
        counts.sinks,
        counts.udfs,
        counts.map_udfs,
        counts.reduce_udfs,
    ) == (
        4,
        1,
        1,
        2,
        1,
        1,
    )
    status = pl.get_status()
    status.set_vertex_counts(counts)
    assert (status.vertex_count, status.udf_count, status.map_udf_count, status.reduce_udf_count) == (
        4,
        2,
        1,
        1,
    )


@pytest.mark.parametrize(
    ("vertex", "expected"),
    [
        ({"name": "s", "source": {"generator": {}}, "partitions": 3}, 1),
        ({"name": "m", "udf": {"container": {}}, "partitions": 3}, 3),
        ({"name": "m", "udf": {"container": {}}, "partitions": 0}, 1),
        ({"name": "m", "udf": {"container": {}}}, 1),
        ({"name": "r", "udf": {"groupBy": {}}, "partitions": 3}, 1),
        ({"name": "r", "udf": {"groupBy": {"keyed": True}}, "partitions": 3}, 3),
        ({"name": "k", "sink": {"log": {}}, "partitions": 2}, 2),
    ],
)
def test_partition_count(vertex: dict[str, Any], expected: int) -> None:
    v = Vertex.model_validate({"spec": vertex})
    assert v.get_partition_count() == expected


def test_buffer_and_bucket_names() -> None:
    doc = _pipeline()
    doc["spec"]["vertices"][1]["partitions"] = 2
    pl = load_object(doc)
    assert isinstance(pl, Pipeline)
    assert pl.vertex_cr_name("cat") == "pl-cat"
    assert pl.vertices[0].owned_buffer_names("ns", "pl") == []
    assert pl.all_buffers() == ["ns-pl-cat-0", "ns-pl-cat-1", "ns-pl-out-0"]
    assert pl.all_buckets() == ["ns-pl-in-cat", "ns-pl-cat-out", "ns-pl-in_SOURCE", "ns-pl-out_SINK"]
    assert pl.daemon_deployment_name() == "pl-daemon"
    assert pl.daemon_service_name() == "pl-daemon-svc"
    assert pl.side_inputs_manager_deployment_name("si") == "pl-si-si"
    assert pl.side_inputs_store_name() == "ns-pl"


def test_vertex_object_names() -> None:
    v = Vertex.model_validate(
        {
            "metadata": {"name": "pl-cat", "namespace": "ns"},
            "spec": {
                "name": "cat",
                "pipelineName": "pl",
                "udf": {},
                "partitions": 2,
                "toEdges": [{"from": "cat", "to": "out", "toVertexPartitionCount": 3}],
            },
        }
    )
    assert v.get_headless_service_name() == "pl-cat-headless"
    assert v.owned_buffer_names() == ["ns-pl-cat-0", "ns-pl-cat-1"]
    assert v.get_to_buffers() == ["ns-pl-out-0", "ns-pl-out-1", "ns-pl-out-2"]
    assert v.get_selector() == "numaflow.numaproj.io/pipeline-name=pl,numaflow.numaproj.io/vertex-name=cat"


def test_mono_vertex_names() -> None:
    mv = MonoVertex.model_validate({"metadata": {"name": "mv"}, "spec": {}})
    assert (mv.headless_service_name(), mv.daemon_deployment_name(), mv.daemon_service_name()) == (
        "mv-mv-headless",
        "mv-mv-daemon",
        "mv-mv-daemon-svc",
    )
    assert mv.scalable()


def test_edges_and_downstream_edges_survive_cycles() -> None:
    pl = Pipeline.model_validate(
        {
            "spec": {
                "edges": [
                    {"from": "in", "to": "retry"},
                    {"from": "retry", "to": "retry"},
                    {"from": "retry", "to": "a"},
                    {"from": "a", "to": "b"},
                    {"from": "b", "to": "a"},
                    {"from": "b", "to": "out"},
                ]
            }
        }
    )
    assert [(e.from_, e.to) for e in pl.edges_from("retry")] == [("retry", "retry"), ("retry", "a")]
    assert [(e.from_, e.to) for e in pl.edges_to("a")] == [("retry", "a"), ("b", "a")]
    assert [(e.from_, e.to) for e in pl.downstream_edges("retry")] == [
        ("retry", "retry"),
        ("retry", "a"),
        ("a", "b"),
        ("b", "a"),
        ("b", "out"),
    ]
    assert pl.downstream_edges("out") == []


def test_user_containers_of_a_vertex() -> None:
    v = Vertex.model_validate(
        {
            "spec": {
                "name": "o",
                "sink": {
                    "udsink": {"container": {"image": "a"}},
                    "fallback": {"udsink": {"container": {"image": "b"}}},
                },
            }
        }
    )
    assert [c.image for c in v.spec.user_containers()] == ["a", "b"]
    assert v.spec.is_udsink()


def test_snake_case_construction_uses_camel_case_json() -> None:
    pl = Pipeline.model_validate({"spec": {"interStepBufferServiceName": "x"}})
    assert pl.spec.inter_step_buffer_service_name == "x"
    assert pl.metadata.name is None


# --- status machinery -------------------------------------------------------------------------------------


def test_conditions_start_unknown_and_are_sorted_by_type() -> None:
    st = PipelineStatus()
    st.init_conditions(T0)
    assert [c.type for c in st.conditions or []] == sorted(
        ["Configured", "Deployed", "DaemonServiceHealthy", "SideInputsManagersHealthy", "VerticesHealthy"]
    )
    assert {(c.status, c.reason) for c in st.conditions or []} == {("Unknown", "Unknown")}
    assert not st.is_ready()


def test_set_condition_keeps_transition_time_unless_something_changed() -> None:
    st = VertexStatus()
    st.init_conditions(T0)
    st.mark_deployed(T0 + timedelta(seconds=1))
    st.mark_deployed(T0 + timedelta(seconds=5))
    cond = st.get_condition("Deployed")
    assert cond is not None
    assert (cond.status, cond.reason, cond.message, cond.last_transition_time) == (
        "True",
        "Successful",
        "Successful",
        "2026-01-01T00:00:01Z",
    )
    st.mark_pods_healthy("Running", "All pods are healthy", T0 + timedelta(seconds=9))
    assert st.is_ready()
    st.mark_phase_running()
    assert st.is_healthy()
    st.mark_pod_not_healthy("CrashLoop", "pod p-0 restarting", T0 + timedelta(seconds=10))
    assert not st.is_healthy()
    assert (st.reason, st.message) == ("CrashLoop", "Degraded: pod p-0 restarting")


def test_pipeline_phase_markers_and_health() -> None:
    st = PipelineStatus()
    st.init_conditions(T0)
    assert not st.is_healthy()
    st.mark_phase_pausing()
    assert (st.phase, st.message, st.is_healthy()) == ("Pausing", "Pausing in progress", True)
    st.mark_phase_paused()
    assert (st.phase, st.message) == ("Paused", "Pipeline paused")
    assert not st.is_healthy()
    for mark in (
        st.mark_configured,
        st.mark_deployed,
        st.mark_daemon_service_healthy,
        st.mark_side_inputs_managers_healthy,
        st.mark_vertices_healthy,
    ):
        mark(T0)
    assert st.is_healthy()
    st.mark_vertices_unhealthy("Bad", "vertex x", T0)
    assert st.message == "Degraded: vertex x"
    st.mark_not_configured("InvalidSpec", "no sink", T0)
    assert (st.phase, st.message, st.is_healthy()) == ("Failed", "no sink", False)
    st.mark_phase_deleting()
    assert (st.phase, st.message, st.is_healthy()) == ("Deleting", "Deleting in progress", True)
    st.mark_phase_running()
    assert (st.phase, st.message) == ("Running", "")


def test_isb_status_pending_then_running() -> None:
    st = InterStepBufferServiceStatus()
    st.init_conditions(T0)
    assert st.phase == "Pending"
    st.mark_configured(T0)
    st.mark_deployed(T0)
    st.mark_children_healthy(T0)
    assert (st.phase, st.is_healthy()) == ("Running", True)


def test_phase_codes() -> None:
    assert [p.code for p in PipelinePhase] == [0, 1, 2, 3, 4, 5]
    assert PipelinePhase("Pausing").code == 4
    assert MonoVertexPhase.PAUSED.code == 3
    assert constants.GROUP_VERSION == GV


def test_mono_vertex_status_markers() -> None:
    mv = MonoVertex.model_validate({"metadata": {"name": "mv"}, "spec": {}})
    st = mv.get_status()
    st.init_conditions(T0)
    assert [c.type for c in st.conditions or []] == ["DaemonHealthy", "Deployed", "PodsHealthy"]
    st.mark_deployed(T0)
    st.mark_daemon_healthy(T0)
    st.mark_pods_healthy("Running", "ok", T0)
    st.mark_phase_paused()
    assert st.is_healthy()
    st.mark_daemon_unhealthy("Down", "daemon gone", T0)
    assert (st.is_healthy(), st.message) == (False, "Degraded: daemon gone")
    st.mark_deploy_failed("Boom", "cannot create pods", T0)
    assert (st.phase, st.reason, st.message) == ("Failed", "Boom", "cannot create pods")
    assert mv.get_selector() == "numaflow.numaproj.io/mono-vertex-name=mv"


def test_vertex_status_failed_phase_is_never_healthy() -> None:
    st = VertexStatus()
    st.mark_deployed(T0)
    st.mark_phase_failed("Bad", "reason")
    assert not st.is_healthy()
    st.mark_phase_paused()
    assert st.is_healthy()


def test_source_and_sink_kinds() -> None:
    v = Vertex.model_validate(
        {"spec": {"name": "x", "source": {"http": {"ports": {"http": 8090}}, "transformer": {}}}}
    )
    assert v.spec.source is not None
    assert v.spec.source.kinds() == ["http"]
    assert v.spec.has_transformer() and not v.spec.is_udsource()
    assert v.spec.source.http is not None
    assert (v.spec.source.http.get_https_port(), v.spec.source.http.get_http_port()) == (8443, 8090)
    s = Vertex.model_validate({"spec": {"name": "y", "sink": {"log": {}, "blackhole": {}}}})
    assert s.spec.sink is not None and s.spec.sink.kinds() == ["log", "blackhole"]
