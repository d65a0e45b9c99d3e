"""Pipeline validation: every NumaFlow rule, each reported at its exact field path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from numaflux.api import FieldError, Pipeline, load_object
from numaflux.api.validation import validate_document, validate_object, validate_pipeline

GV = "numaflow.numaproj.io/v1alpha1"

_BASE: dict[str, Any] = {
    "apiVersion": GV,
    "kind": "Pipeline",
    "metadata": {"name": "simple"},
    "spec": {
        "vertices": [
            {"name": "in", "source": {"generator": {"rpu": 5, "duration": "1s"}}},
            {"name": "cat", "udf": {"container": {"image": "quay.io/numaio/map-cat:stable"}}},
            {"name": "out", "sink": {"log": {}}},
        ],
        "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
    },
}


def base_pipeline() -> dict[str, Any]:
    """in (generator) -> cat (map UDF) -> out (log): valid."""
    return copy.deepcopy(_BASE)


def vertex(doc: dict[str, Any], index: int) -> dict[str, Any]:
    vertices: list[dict[str, Any]] = doc["spec"]["vertices"]
    return vertices[index]


def edges(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = doc["spec"]["edges"]
    return out


def reduce_udf(**group_by: Any) -> dict[str, Any]:
    """A keyed fixed-window reduce UDF; ``group_by`` entries replace the defaults."""
    gb: dict[str, Any] = {"window": {"fixed": {"length": "60s"}}, "keyed": True, "storage": {"emptyDir": {}}}
    gb.update(group_by)
    return {"container": {"image": "reduce:1"}, "groupBy": gb}


def set_scale(i: int, **scale: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        vertex(d, i)["scale"] = scale

    return mutate


def add_vertex(v: dict[str, Any], *new_edges: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["spec"]["vertices"].append(v)
        edges(d).extend({"from": a, "to": b} for a, b in new_edges)

    return mutate


def add_edge(a: str, b: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: edges(d).append({"from": a, "to": b})


def set_vertex(i: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        vertex(d, i)[key] = value

    return mutate


def set_spec(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["spec"][key] = value

    return mutate


def rename_cat(new: str, pipeline: str | None = None) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        vertex(d, 1)["name"] = new
        edges(d)[0]["to"] = new
        edges(d)[1]["from"] = new
        if pipeline is not None:
            d["metadata"]["name"] = pipeline

    return mutate


def cron(start: str = "0 0 9 * * *", end: str = "0 0 17 * * *", **extra: Any) -> dict[str, Any]:
    schedule = {"start": start, "end": end, "min": 2, "max": 4}
    schedule.update(extra)
    return {"cron": {"schedules": [schedule]}}


def side_input(name: str = "cfg", **fields: Any) -> dict[str, Any]:
    si: dict[str, Any] = {"name": name, "container": {"image": "si:1"}, "trigger": {"schedule": "@every 1m"}}
    si.update(fields)
    return si


def idle(**fields: str) -> Callable[[dict[str, Any]], None]:
    return set_spec("watermark", {"idleSource": fields})


def cycle_then_reduce(d: dict[str, Any]) -> None:
    d["spec"]["vertices"].insert(2, {"name": "sum", "udf": reduce_udf()})
    d["spec"]["edges"] = [
        {"from": "in", "to": "cat"},
        {"from": "cat", "to": "cat", "conditions": {"tags": {"values": ["retry"]}}},
        {"from": "cat", "to": "sum"},
        {"from": "sum", "to": "out"},
    ]


def serving_with_reduce(d: dict[str, Any]) -> None:
    vertex(d, 0)["source"] = {"serving": {}}
    vertex(d, 1)["udf"] = reduce_udf()


def _del_name(d: dict[str, Any]) -> None:
    del d["metadata"]["name"]


def _no_vertices(d: dict[str, Any]) -> None:
    d["spec"]["vertices"] = []
    d["spec"]["edges"] = []


Case = tuple[str, Callable[[dict[str, Any]], None], str, str]

V0, V1, V2 = "spec.vertices[0]", "spec.vertices[1]", "spec.vertices[2]"
WM = "spec.watermark.idleSource"

INVALID: list[Case] = [
    # names
    (
        "pipeline name not DNS-1035",
        lambda d: d["metadata"].update(name="Simple_1"),
        "metadata.name",
        "'Simple_1' is not a DNS-1035 label",
    ),
    (
        "pipeline name over 63",
        lambda d: d["metadata"].update(name="p" * 64),
        "metadata.name",
        "64 characters long, at most 63",
    ),
    ("pipeline name missing", _del_name, "metadata.name", "a pipeline needs a name"),
    (
        "generateName not DNS-1035",
        lambda d: d["metadata"].update(name=None, generateName="Pipe-"),
        "metadata.generateName",
        "invalid pipeline generateName 'Pipe-'",
    ),
    (
        "retry cap below interval",
        lambda d: vertex(d, 2)["sink"].update(retryStrategy={"backoff": {"interval": "2s", "cap": "1s"}}),
        f"{V2}.sink.retryStrategy.backoff.cap",
        "cap '1s' is less than interval '2s'",
    ),
    ("vertex name not DNS-1035", rename_cat("9cat"), f"{V1}.name", "'9cat' is not a DNS-1035 label"),
    (
        "headless service name over 63",
        rename_cat("c" * 30, pipeline="p" * 30),
        f"{V1}.name",
        f'"{"p" * 30}-{"c" * 30}-headless" is 70 characters long',
    ),
    (
        "duplicate vertex name",
        set_vertex(2, "name", "cat"),
        f"{V2}.name",
        'duplicate vertex name "cat" (first at spec.vertices[1])',
    ),
    # vertex kinds and counts
    ("no vertices", _no_vertices, "spec.vertices", "at least one vertex"),
    ("no edges", set_spec("edges", []), "spec.edges", "at least one edge"),
    (
        "vertex with no kind",
        lambda d: vertex(d, 1).pop("udf"),
        V1,
        'vertex "cat" must be exactly one of source, sink or udf, found none',
    ),
    ("vertex with two kinds", set_vertex(1, "sink", {"log": {}}), V1, "found sink and udf"),
    ("no source", set_vertex(0, "source", None), "spec.vertices", "at least one source vertex"),
    ("no sink", lambda d: vertex(d, 2).pop("sink"), "spec.vertices", "at least one sink vertex"),
    (
        "serve sink outside a ServingPipeline",
        set_vertex(2, "sink", {"serve": {}}),
        f"{V2}.sink.serve",
        '"serve" sink is only allowed in a ServingPipeline',
    ),
    (
        "serving source with a reduce",
        serving_with_reduce,
        f"{V1}.udf.groupBy",
        'not supported with the serving source "in"',
    ),
    # edges
    ("edge without from", lambda d: edges(d)[0].pop("from"), "spec.edges[0].from", "from is required"),
    (
        "edge to a missing vertex",
        add_edge("in", "nope"),
        "spec.edges[2].to",
        'edge "in" -> "nope": vertex "nope" does not exist',
    ),
    (
        "edge from a missing vertex",
        add_edge("ghost", "out"),
        "spec.edges[2].from",
        'vertex "ghost" does not exist',
    ),
    (
        "duplicate edge",
        add_edge("in", "cat"),
        "spec.edges[2]",
        'edge "in" -> "cat" is defined more than once (first at spec.edges[0])',
    ),
    (
        "condition without tag values",
        lambda d: edges(d)[1].update(conditions={"tags": {"values": []}}),
        "spec.edges[1].conditions.tags.values",
        "at least one tag value",
    ),
    (
        "edge into a source",
        add_edge("cat", "in"),
        "spec.edges[2].to",
        'source vertex "in" cannot have incoming edges',
    ),
    (
        "edge out of a sink",
        add_edge("out", "cat"),
        "spec.edges[2].from",
        'sink vertex "out" cannot have outgoing edges',
    ),
    (
        "source without outgoing edge",
        add_vertex({"name": "in2", "source": {"http": {}}}, ("cat", "in2")),
        "spec.vertices[3]",
        'source vertex "in2" needs at least one outgoing edge',
    ),
    (
        "sink without incoming edge",
        add_vertex({"name": "out2", "sink": {"log": {}}}, ("out2", "cat")),
        "spec.vertices[3]",
        'sink vertex "out2" needs at least one incoming edge',
    ),
    (
        "UDF without outgoing edge",
        add_vertex({"name": "dead", "udf": {"container": {"image": "x"}}}, ("in", "dead")),
        "spec.vertices[3]",
        'UDF vertex "dead" needs at least one outgoing edge',
    ),
    (
        "vertex in no edge",
        add_vertex({"name": "lonely", "udf": {"container": {"image": "x"}}}),
        "spec.vertices[3]",
        'vertex "lonely" is not used in any edge',
    ),
    (
        "disjoint graph",
        lambda d: (
            add_vertex({"name": "in2", "source": {"http": {}}})(d),
            add_vertex({"name": "out2", "sink": {"log": {}}}, ("in2", "out2"))(d),
        ),
        "spec.edges",
        '"in2", "out2" not connected to "in"',
    ),
    (
        "reduce downstream of a cycle",
        cycle_then_reduce,
        f"{V2}.udf.groupBy",
        'reduce vertex "sum" is at or downstream of a cycle at vertex "cat"',
    ),
    # scale, partitions, update strategy
    ("min greater than max", set_scale(1, min=5, max=2), f"{V1}.scale.max", "min 5 is greater than max 2"),
    (
        "min above the default max",
        set_scale(1, min=60),
        f"{V1}.scale.min",
        "min 60 is greater than the default max 50",
    ),
    ("negative min", set_scale(1, min=-1), f"{V1}.scale.min", "min -1 is negative"),
    (
        "cron on a UDF",
        set_vertex(1, "scale", cron()),
        f"{V1}.scale.cron",
        "cron autoscaling is only supported for source vertices",
    ),
    (
        "cron on a source with a bad expression",
        set_vertex(0, "scale", cron(start="0 9 * * *")),
        f"{V0}.scale.cron.schedules[0].start",
        "expected 6 fields (with seconds), found 5",
    ),
    (
        "cron schedule with min above max",
        set_vertex(0, "scale", cron(min=5, max=1)),
        f"{V0}.scale.cron.schedules[0].max",
        "min 5 is greater than max 1",
    ),
    ("negative partitions", set_vertex(1, "partitions", -1), f"{V1}.partitions", "partitions -1 is negative"),
    (
        "source with 2 partitions",
        set_vertex(0, "partitions", 2),
        f"{V0}.partitions",
        "a source vertex has at most 1 partition",
    ),
    (
        "non-keyed reduce with 3 partitions",
        lambda d: vertex(d, 1).update(udf=reduce_udf(keyed=False), partitions=3),
        f"{V1}.partitions",
        "a non-keyed reduce vertex has at most 1 partition",
    ),
    (
        "maxUnavailable not a percentage",
        set_vertex(1, "updateStrategy", {"rollingUpdate": {"maxUnavailable": "x"}}),
        f"{V1}.updateStrategy.rollingUpdate.maxUnavailable",
        "invalid maxUnavailable 'x'",
    ),
    (
        "negative maxUnavailable",
        set_vertex(1, "updateStrategy", {"rollingUpdate": {"maxUnavailable": -1}}),
        f"{V1}.updateStrategy.rollingUpdate.maxUnavailable",
        "maxUnavailable -1 is negative",
    ),
    # containers
    (
        "sidecar with a reserved name",
        set_vertex(2, "sidecars", [{"name": "numa", "image": "x"}]),
        f"{V2}.sidecars[0].name",
        'sidecar name "numa" is reserved',
    ),
    (
        "init container with a reserved name",
        set_vertex(1, "initContainers", [{"name": "init", "image": "x"}]),
        f"{V1}.initContainers[0].name",
        'init container name "init" is reserved',
    ),
    (
        "sidecar on a source",
        set_vertex(0, "sidecars", [{"name": "helper", "image": "x"}]),
        f"{V0}.sidecars",
        "sidecars are not supported on source vertices",
    ),
    (
        "UDF without image",
        set_vertex(1, "udf", {"container": {"imagePullPolicy": "Always"}}),
        f"{V1}.udf.container.image",
        "a UDF needs a container image",
    ),
    (
        "builtin UDF (gone at HEAD)",
        set_vertex(1, "udf", {"builtin": {"name": "cat"}}),
        f"{V1}.udf.builtin",
        "unknown field",
    ),
    (
        "udsink without container",
        set_vertex(2, "sink", {"udsink": {}}),
        f"{V2}.sink.udsink.container",
        "a user-defined sink needs a container",
    ),
    (
        "udsource without image",
        set_vertex(0, "source", {"udsource": {"container": {}}}),
        f"{V0}.source.udsource.container.image",
        "a user-defined source needs a container image",
    ),
    (
        "transformer without container",
        lambda d: vertex(d, 0)["source"].update(transformer={}),
        f"{V0}.source.transformer.container",
        "a source transformer needs a container",
    ),
    (
        "two source kinds",
        lambda d: vertex(d, 0)["source"].update(http={}),
        f"{V0}.source",
        "only one source kind may be set, found generator, http",
    ),
    (
        "two sink kinds",
        lambda d: vertex(d, 2)["sink"].update(blackhole={}),
        f"{V2}.sink",
        "only one kind may be set for a sink, found log, blackhole",
    ),
    (
        "negative generator rpu",
        lambda d: vertex(d, 0)["source"]["generator"].update(rpu=-5),
        f"{V0}.source.generator.rpu",
        "rpu -5 is negative",
    ),
    (
        "http token selector without key",
        set_vertex(0, "source", {"http": {"auth": {"token": {"name": "s"}}}}),
        f"{V0}.source.http.auth.token.key",
        "the token secret selector needs a key",
    ),
    # sinks
    (
        "onFailure fallback without a fallback sink",
        lambda d: vertex(d, 2)["sink"].update(retryStrategy={"onFailure": "fallback"}),
        f"{V2}.sink.retryStrategy.onFailure",
        'onFailure is "fallback" but no fallback sink is configured',
    ),
    (
        "fallback sink with its own fallback",
        lambda d: vertex(d, 2)["sink"].update(fallback={"log": {}, "fallback": {"log": {}}}),
        f"{V2}.sink.fallback.fallback",
        "unknown field",
    ),
    (
        "empty fallback sink",
        lambda d: vertex(d, 2)["sink"].update(fallback={}),
        f"{V2}.sink.fallback",
        "the fallback sink needs one of log",
    ),
    (
        "retry backoff with zero steps",
        lambda d: vertex(d, 2)["sink"].update(retryStrategy={"backoff": {"steps": 0}}),
        f"{V2}.sink.retryStrategy.backoff.steps",
        "steps 0 must be at least 1",
    ),
    # reduce windows and storage
    (
        "two window kinds",
        set_vertex(1, "udf", reduce_udf(window={"fixed": {"length": "1s"}, "session": {"timeout": "1s"}})),
        f"{V1}.udf.groupBy.window",
        "only one window kind may be set, found fixed, session",
    ),
    (
        "no window kind",
        set_vertex(1, "udf", reduce_udf(window={})),
        f"{V1}.udf.groupBy.window",
        "a window is required",
    ),
    (
        "zero fixed window length",
        set_vertex(1, "udf", reduce_udf(window={"fixed": {"length": "0s"}})),
        f"{V1}.udf.groupBy.window.fixed.length",
        "length '0s' must be greater than 0",
    ),
    (
        "sliding slide longer than length",
        set_vertex(1, "udf", reduce_udf(window={"sliding": {"length": "10s", "slide": "20s"}})),
        f"{V1}.udf.groupBy.window.sliding.slide",
        "slide '20s' is longer than the window length '10s'",
    ),
    (
        "sliding without slide",
        set_vertex(1, "udf", reduce_udf(window={"sliding": {"length": "10s"}})),
        f"{V1}.udf.groupBy.window.sliding.slide",
        "slide is required",
    ),
    (
        "reduce without storage",
        lambda d: vertex(d, 1).update(
            udf={"container": {"image": "r"}, "groupBy": {"window": {"fixed": {"length": "1s"}}}}
        ),
        f"{V1}.udf.groupBy.storage",
        "storage is required",
    ),
    # side inputs
    (
        "undeclared side input",
        set_vertex(1, "sideInputs", ["cfg"]),
        f"{V1}.sideInputs[0]",
        'side input "cfg" is not declared in spec.sideInputs',
    ),
    (
        "side input declared twice",
        set_spec("sideInputs", [side_input(), side_input()]),
        "spec.sideInputs[1].name",
        'side input "cfg" is declared more than once',
    ),
    (
        "side input name not DNS-1035",
        set_spec("sideInputs", [side_input("My_Cfg")]),
        "spec.sideInputs[0].name",
        "invalid side input name: 'My_Cfg'",
    ),
    (
        "side input without container",
        set_spec("sideInputs", [side_input(container=None)]),
        "spec.sideInputs[0].container",
        'side input "cfg" needs a container',
    ),
    (
        "side input without schedule",
        set_spec("sideInputs", [side_input(trigger={"timezone": "UTC"})]),
        "spec.sideInputs[0].trigger.schedule",
        'side input "cfg" needs a trigger schedule',
    ),
    # watermark idle source
    (
        "idle threshold zero",
        idle(threshold="0s", incrementBy="1s"),
        f"{WM}.threshold",
        "threshold '0s' must be greater than 0",
    ),
    ("idle incrementBy missing", idle(threshold="5s"), f"{WM}.incrementBy", "incrementBy is required"),
    (
        "idle threshold below incrementBy",
        idle(threshold="1s", incrementBy="5s"),
        f"{WM}.threshold",
        "threshold '1s' must be greater than or equal to incrementBy '5s'",
    ),
    (
        "idle initSourceDelay below threshold",
        idle(threshold="10s", incrementBy="1s", initSourceDelay="5s"),
        f"{WM}.initSourceDelay",
        "initSourceDelay '5s' must be greater than or equal to threshold '10s'",
    ),
    # ordered processing, limits, model errors
    (
        "ordered map vertex with scale.min",
        lambda d: (set_spec("ordered", {"enabled": True})(d), set_scale(1, min=1)(d)),
        f"{V1}.scale.min",
        "scale.min must not be set when ordered processing is enabled",
    ),
    (
        "readBatchSize zero",
        set_spec("limits", {"readBatchSize": 0}),
        "spec.limits.readBatchSize",
        "readBatchSize 0 must be at least 1",
    ),
    ("misspelled scale field", set_scale(1, mni=1), f"{V1}.scale.mni", "unknown field"),
]


@pytest.mark.parametrize(("mutate", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_each_invalid_spec_is_reported_at_its_path(
    mutate: Callable[[dict[str, Any]], None], path: str, message: str
) -> None:
    doc = base_pipeline()
    mutate(doc)
    errors = validate_document(doc).errors
    assert any(e.path == path and message in e.message for e in errors), errors


def test_the_table_covers_at_least_forty_distinct_rules() -> None:
    assert len(INVALID) >= 40
    assert len({c[0] for c in INVALID}) == len(INVALID)


def test_the_base_pipeline_is_valid() -> None:
    assert validate_document(base_pipeline()).errors == []


def test_every_upstream_example_validates(shared_examples_dir: Path) -> None:
    files = sorted(shared_examples_dir.glob("*.yaml"))
    assert len(files) >= 10
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            if doc is not None:
                result = validate_document(doc)
                assert result.errors == [], f"{file.name}: {result.errors}"


def test_a_document_with_three_independent_errors_reports_all_three() -> None:
    doc = base_pipeline()
    set_scale(1, min=4, max=2)(doc)
    add_edge("cat", "nope")(doc)
    set_vertex(0, "partitions", 3)(doc)
    errors = validate_document(doc).errors
    assert [e.path for e in errors] == [
        "spec.vertices[0].partitions",
        "spec.vertices[1].scale.max",
        "spec.edges[2].to",
    ]


def test_errors_come_in_the_same_order_every_time() -> None:
    doc = base_pipeline()
    add_edge("out", "in")(doc)
    rename_cat("Cat")(doc)
    pl, again = load_object(doc), load_object(copy.deepcopy(doc))
    assert isinstance(pl, Pipeline) and isinstance(again, Pipeline)
    first = validate_pipeline(pl)
    assert first == validate_pipeline(again)
    assert len(first) >= 3


def test_field_errors_render_as_path_colon_message() -> None:
    doc = base_pipeline()
    add_edge("in", "nope")(doc)
    (err,) = validate_document(doc).errors
    assert str(err) == 'spec.edges[2].to: edge "in" -> "nope": vertex "nope" does not exist'


def test_a_conditional_self_loop_without_reduce_is_valid() -> None:
    doc = base_pipeline()
    edges(doc).append({"from": "cat", "to": "cat", "conditions": {"tags": {"values": ["retry"]}}})
    assert validate_document(doc).errors == []


def test_a_reduce_before_a_cycle_is_valid() -> None:
    doc = base_pipeline()
    vertex(doc, 1)["udf"] = reduce_udf()
    doc["spec"]["vertices"].insert(2, {"name": "retry", "udf": {"container": {"image": "r"}}})
    doc["spec"]["edges"] = [
        {"from": "in", "to": "cat"},
        {"from": "cat", "to": "retry"},
        {"from": "retry", "to": "retry", "conditions": {"tags": {"values": ["again"]}}},
        {"from": "retry", "to": "out"},
    ]
    assert validate_document(doc).errors == []


def test_a_generate_name_prefix_stands_in_for_the_name() -> None:
    doc = base_pipeline()
    doc["metadata"] = {"generateName": "simple-"}
    assert validate_document(doc).errors == []


def test_max_zero_is_allowed() -> None:
    doc = base_pipeline()
    set_scale(1, min=0, max=0)(doc)
    assert validate_document(doc).errors == []


def test_cron_on_a_source_with_valid_schedules_is_accepted() -> None:
    doc = base_pipeline()
    vertex(doc, 0)["scale"] = cron()
    assert validate_document(doc).errors == []


def test_a_complete_idle_source_config_is_accepted() -> None:
    doc = base_pipeline()
    idle(threshold="10s", incrementBy="2s", initSourceDelay="15s")(doc)
    assert validate_document(doc).errors == []


def test_side_inputs_on_every_vertex_kind_are_accepted() -> None:
    # NumaFlow lets sources, UDFs and sinks all read side inputs.
    doc = base_pipeline()
    doc["spec"]["sideInputs"] = [side_input()]
    for i in range(3):
        vertex(doc, i)["sideInputs"] = ["cfg"]
    assert validate_document(doc).errors == []


def test_vertex_level_ordered_false_overrides_the_pipeline() -> None:
    doc = base_pipeline()
    doc["spec"]["ordered"] = {"enabled": True}
    vertex(doc, 1)["ordered"] = {"enabled": False}
    set_scale(1, min=1, max=3)(doc)
    assert validate_document(doc).errors == []


def test_unknown_kind_is_one_error_without_a_path() -> None:
    result = validate_document({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert result.obj is None
    assert result.kind == "ConfigMap"
    assert [e.path for e in result.errors] == [""]
    assert "apiVersion" in result.errors[0].message


def test_validate_object_dispatches_on_the_kind() -> None:
    pl = load_object(base_pipeline())
    assert validate_object(pl) == []
    bad = base_pipeline()
    bad["metadata"]["name"] = "X"
    assert validate_object(load_object(bad)) == [
        FieldError(
            "metadata.name",
            "invalid pipeline name: 'X' is not a DNS-1035 label (lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit)",
        )
    ]
