"""Validation of MonoVertex, InterStepBufferService and Vertex objects, and the cron parser it uses."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from numaflux.api.validation import CronError, parse_cron, validate_document

GV = "numaflow.numaproj.io/v1alpha1"

MONO: dict[str, Any] = {
    "apiVersion": GV,
    "kind": "MonoVertex",
    "metadata": {"name": "mono"},
    "spec": {
        "source": {"udsource": {"container": {"image": "src:1"}}},
        "udf": {"container": {"image": "map:1"}},
        "sink": {"udsink": {"container": {"image": "sink:1"}}, "fallback": {"log": {}}},
    },
}
ISB: dict[str, Any] = {
    "apiVersion": GV,
    "kind": "InterStepBufferService",
    "metadata": {"name": "default"},
    "spec": {"jetstream": {"version": "latest", "replicas": 3}},
}
VERTEX: dict[str, Any] = {
    "apiVersion": GV,
    "kind": "Vertex",
    "metadata": {"name": "simple-cat"},
    "spec": {
        "name": "cat",
        "pipelineName": "simple",
        "udf": {"container": {"image": "map:1"}},
        "replicas": 2,
        "fromEdges": [{"from": "in", "to": "cat"}],
        "toEdges": [{"from": "cat", "to": "out"}],
    },
}

Mutation = Callable[[dict[str, Any]], Any]


def _spec(key: str, value: Any) -> Mutation:
    return lambda d: d["spec"].__setitem__(key, value)


CASES: list[tuple[str, dict[str, Any], Mutation, str, str]] = [
    (
        "mono: no source",
        MONO,
        lambda d: d["spec"].pop("source"),
        "spec.source",
        "a MonoVertex needs a source",
    ),
    ("mono: no sink", MONO, lambda d: d["spec"].pop("sink"), "spec.sink", "a MonoVertex needs a sink"),
    ("mono: bad name", MONO, lambda d: d["metadata"].update(name="Mono"), "metadata.name", "DNS-1035"),
    (
        "mono: serving source",
        MONO,
        _spec("source", {"serving": {}}),
        "spec.source.serving",
        "serving source is not supported in a MonoVertex",
    ),
    (
        "mono: kafka with streaming",
        MONO,
        lambda d: d["spec"].update(source={"kafka": {"topic": "t"}}, streaming=True),
        "spec.source.kafka",
        "not supported with streaming: true",
    ),
    (
        "mono: reduce udf",
        MONO,
        _spec("udf", {"container": {"image": "r"}, "groupBy": {"window": {"fixed": {"length": "1s"}}}}),
        "spec.udf.groupBy",
        "groupBy (reduce) is not supported in a MonoVertex",
    ),
    (
        "mono: udf without image",
        MONO,
        _spec("udf", {"container": {}}),
        "spec.udf.container.image",
        "a UDF needs a container image",
    ),
    (
        "mono: udsource without image",
        MONO,
        _spec("source", {"udsource": {"container": {}}}),
        "spec.source.udsource.container.image",
        "a user-defined source needs a container image",
    ),
    (
        "mono: reserved sidecar",
        MONO,
        _spec("sidecars", [{"name": "udsink"}]),
        "spec.sidecars[0].name",
        'sidecar name "udsink" is reserved',
    ),
    (
        "mono: min above max",
        MONO,
        _spec("scale", {"min": 3, "max": 1}),
        "spec.scale.max",
        "min 3 is greater than max 1",
    ),
    (
        "mono: cron with scaling disabled",
        MONO,
        _spec(
            "scale",
            {
                "disabled": True,
                "cron": {"schedules": [{"start": "0 0 9 * * *", "end": "0 0 17 * * *", "min": 1, "max": 2}]},
            },
        ),
        "spec.scale.disabled",
        "cron must not be configured when autoscaling is disabled",
    ),
    (
        "mono: cron without schedules",
        MONO,
        _spec("scale", {"cron": {"timezone": "UTC"}}),
        "spec.scale.cron.schedules",
        "at least one schedule is required",
    ),
    (
        "mono: cron unknown timezone",
        MONO,
        _spec(
            "scale",
            {
                "cron": {
                    "timezone": "Mars/Olympus",
                    "schedules": [{"start": "0 0 9 * * *", "end": "0 0 17 * * *", "min": 1, "max": 2}],
                }
            },
        ),
        "spec.scale.cron.timezone",
        "unknown timezone 'Mars/Olympus'",
    ),
    (
        "mono: cron start equals end",
        MONO,
        _spec(
            "scale",
            {"cron": {"schedules": [{"start": "0 0 9 * * *", "end": "0 0 9 * * *", "min": 1, "max": 2}]}},
        ),
        "spec.scale.cron.schedules[0]",
        "start and end are the same schedule",
    ),
    (
        "mono: cron days differ",
        MONO,
        _spec(
            "scale",
            {
                "cron": {
                    "schedules": [{"start": "0 0 9 * * MON", "end": "0 0 17 * * TUE", "min": 1, "max": 2}]
                }
            },
        ),
        "spec.scale.cron.schedules[0]",
        "same day-of-month, month and day-of-week",
    ),
    (
        "mono: cron schedule without max",
        MONO,
        _spec("scale", {"cron": {"schedules": [{"start": "0 0 9 * * *", "end": "0 0 17 * * *", "min": 1}]}}),
        "spec.scale.cron.schedules[0].max",
        "max is required",
    ),
    (
        "mono: bad maxUnavailable",
        MONO,
        _spec("updateStrategy", {"rollingUpdate": {"maxUnavailable": "1x"}}),
        "spec.updateStrategy.rollingUpdate.maxUnavailable",
        "invalid maxUnavailable '1x'",
    ),
    (
        "isb: no jetstream",
        ISB,
        lambda d: d.__setitem__("spec", {}),
        "spec.jetstream",
        "spec.jetstream is required",
    ),
    (
        "isb: no version",
        ISB,
        lambda d: d["spec"]["jetstream"].pop("version"),
        "spec.jetstream.version",
        "version is required",
    ),
    (
        "isb: two replicas",
        ISB,
        lambda d: d["spec"]["jetstream"].update(replicas=2),
        "spec.jetstream.replicas",
        "replicas 2: the minimum is 1 and it can't be 2",
    ),
    (
        "isb: zero replicas",
        ISB,
        lambda d: d["spec"]["jetstream"].update(replicas=0),
        "spec.jetstream.replicas",
        "replicas 0",
    ),
    ("isb: bad name", ISB, lambda d: d["metadata"].update(name="isb.svc"), "metadata.name", "DNS-1035"),
    (
        "vertex: no pipeline name",
        VERTEX,
        lambda d: d["spec"].pop("pipelineName"),
        "spec.pipelineName",
        "needs the name of its pipeline",
    ),
    ("vertex: negative replicas", VERTEX, _spec("replicas", -1), "spec.replicas", "replicas -1 is negative"),
    (
        "vertex: edge without to",
        VERTEX,
        _spec("toEdges", [{"from": "cat"}]),
        "spec.toEdges[0].to",
        "to is required",
    ),
    (
        "vertex: udf without image",
        VERTEX,
        _spec("udf", {"container": {}}),
        "spec.udf.container.image",
        "a UDF needs a container image",
    ),
    (
        "vertex: cron on a UDF",
        VERTEX,
        _spec("scale", {"cron": {"schedules": []}}),
        "spec.scale.cron",
        "only supported for source vertices",
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_invalid_object_is_reported_at_its_path(
    base: dict[str, Any], mutate: Mutation, path: str, message: str
) -> None:
    doc = copy.deepcopy(base)
    mutate(doc)
    errors = validate_document(doc).errors
    assert any(e.path == path and message in e.message for e in errors), errors


@pytest.mark.parametrize("base", [MONO, ISB, VERTEX], ids=["MonoVertex", "InterStepBufferService", "Vertex"])
def test_the_base_objects_are_valid(base: dict[str, Any]) -> None:
    assert validate_document(copy.deepcopy(base)).errors == []


def test_isb_replicas_one_is_valid() -> None:
    doc = copy.deepcopy(ISB)
    doc["spec"]["jetstream"]["replicas"] = 1
    assert validate_document(doc).errors == []


def test_a_mono_vertex_with_a_valid_cron_schedule_is_valid() -> None:
    doc = copy.deepcopy(MONO)
    doc["spec"]["scale"] = {
        "min": 1,
        "max": 5,
        "cron": {
            "timezone": "America/Los_Angeles",
            "schedules": [{"start": "0 0 9 * * MON-FRI", "end": "0 30 17 * * MON-FRI", "min": 3, "max": 5}],
        },
    }
    assert validate_document(doc).errors == []


def test_cron_expressions_expand_to_the_matching_values() -> None:
    spec = parse_cron("*/15 0 9-17/4 1,15 JAN-MAR ?")
    assert spec.second.values == frozenset({0, 15, 30, 45})
    assert spec.hour.values == frozenset({9, 13, 17})
    assert spec.dom.values == frozenset({1, 15})
    assert spec.month.values == frozenset({1, 2, 3})
    assert spec.dow.star and spec.dow.values == frozenset(range(7))
    assert not spec.dom.star


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("0 0 9 * *", "expected 6 fields"),
        ("0 60 9 * * *", "minute field: 60 is outside 0-59"),
        ("0 0 17-9 * * *", "range '17-9' is backwards"),
        ("0 0 9 * * FUNDAY", "day-of-week field: 'FUNDAY' is not a number"),
        ("0 0 9 * */0 *", "step '0' must be a positive number"),
        ("0 0 9 1,,2 * *", "empty list item"),
    ],
)
def test_malformed_cron_expressions_say_what_is_wrong(expr: str, problem: str) -> None:
    with pytest.raises(CronError, match=None) as info:
        parse_cron(expr)
    assert problem in str(info.value)
