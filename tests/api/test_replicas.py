"""Vertex.calculate_replicas / MonoVertex.calculate_replicas, per NumaFlow's TestGetVertexReplicas."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numaflux.api import MonoVertex, Vertex


def _vertex(**spec: Any) -> Vertex:
    base: dict[str, Any] = {"name": "v", "pipelineName": "p"}
    if "udf" not in spec and "source" not in spec and "sink" not in spec:
        base["udf"] = {"container": {"image": "m"}}
    return Vertex.model_validate({"metadata": {"name": "p-v"}, "spec": {**base, **spec}})


REDUCE: dict[str, Any] = {"container": {"image": "r"}, "groupBy": {"window": {"fixed": {"length": "60s"}}}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"lifecycle": {"desiredPhase": "Paused"}}, 0),
        ({"lifecycle": {"desiredPhase": "Paused"}, "replicas": 7}, 0),
        ({"lifecycle": {"desiredPhase": "Running"}}, 1),
        ({"lifecycle": {"desiredPhase": ""}}, 1),
        ({"lifecycle": {"desiredPhase": "Failed"}}, 1),
        ({}, 1),
        ({"replicas": 3}, 3),
        ({"replicas": 0}, 0),
        ({"udf": REDUCE, "replicas": 5}, 1),
        ({"udf": REDUCE, "replicas": 1000}, 1),
        ({"replicas": 300, "scale": {"min": 20, "max": 40}}, 40),
        ({"replicas": 10, "scale": {"min": 20, "max": 40}}, 20),
        ({"replicas": 300, "scale": {"min": 20, "max": 40, "disabled": True}}, 300),
        ({"replicas": 100}, 50),
        ({"replicas": 0, "scale": {"min": -3}}, 0),
        ({"scale": {"min": 2}}, 2),
        ({"udf": {**REDUCE, "groupBy": {**REDUCE["groupBy"], "keyed": True}}, "partitions": 4}, 4),
        (
            {
                "udf": {**REDUCE, "groupBy": {**REDUCE["groupBy"], "keyed": True}},
                "partitions": 4,
                "scale": {"max": 2},
            },
            2,
        ),
    ],
)
def test_calculate_replicas_matches_numaflow(spec: dict[str, Any], expected: int) -> None:
    assert _vertex(**spec).calculate_replicas() == expected


def test_calculate_replicas_takes_no_input_but_the_vertex() -> None:
    assert list(inspect.signature(Vertex.calculate_replicas).parameters) == ["self"]
    assert list(inspect.signature(MonoVertex.calculate_replicas).parameters) == ["self"]


optional_int = st.none() | st.integers(min_value=-5, max_value=200)
phases = st.none() | st.sampled_from(["", "Running", "Paused", "Failed", "paused", "Pausing"])


@st.composite
def vertex_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "v", "pipelineName": "p"}
    kind = draw(st.sampled_from(["source", "sink", "map", "reduce", "keyed-reduce"]))
    if kind == "source":
        spec["source"] = {"generator": {}}
    elif kind == "sink":
        spec["sink"] = {"log": {}}
    elif kind == "map":
        spec["udf"] = {"container": {"image": "m"}}
    else:
        group_by: dict[str, Any] = {"window": {"fixed": {"length": "1s"}}}
        if kind == "keyed-reduce":
            group_by["keyed"] = True
        spec["udf"] = {"container": {"image": "r"}, "groupBy": group_by}
    for key, value in (("replicas", draw(optional_int)), ("partitions", draw(optional_int))):
        if value is not None:
            spec[key] = value
    scale: dict[str, Any] = {}
    lo = draw(optional_int)
    hi = draw(optional_int)
    if lo is not None and hi is not None and max(lo, 0) > hi:
        lo, hi = hi, lo
    if lo is not None:
        scale["min"] = lo
    if hi is not None:
        scale["max"] = max(hi, 0) if lo is None else hi
    if draw(st.booleans()):
        scale["disabled"] = draw(st.booleans())
    if scale:
        spec["scale"] = scale
    phase = draw(phases)
    if phase is not None:
        spec["lifecycle"] = {"desiredPhase": phase}
    return spec


@settings(deadline=None)
@given(vertex_specs())
def test_calculate_replicas_is_within_min_max_when_running_and_scaling(spec: dict[str, Any]) -> None:
    v = Vertex.model_validate({"spec": spec})
    scale = v.spec.get_scale()
    got = v.calculate_replicas()
    if v.spec.get_lifecycle().get_desired_phase() == "Paused":
        assert got == 0
    elif not scale.is_disabled() and scale.get_min_replicas() <= scale.get_max_replicas():
        assert scale.get_min_replicas() <= got <= scale.get_max_replicas()


@settings(deadline=None)
@given(vertex_specs())
def test_calculate_replicas_is_zero_when_paused(spec: dict[str, Any]) -> None:
    v = Vertex.model_validate({"spec": spec})
    if spec.get("lifecycle", {}).get("desiredPhase") == "Paused":
        assert v.calculate_replicas() == 0


@settings(deadline=None)
@given(vertex_specs())
def test_calculate_replicas_depends_only_on_the_vertex(spec: dict[str, Any]) -> None:
    first = Vertex.model_validate({"spec": spec})
    second = Vertex.model_validate({"metadata": {"name": "other", "namespace": "x"}, "spec": dict(spec)})
    assert first.calculate_replicas() == second.calculate_replicas()
    assert first.calculate_replicas() == first.calculate_replicas()


@settings(deadline=None)
@given(vertex_specs())
def test_reduce_replicas_come_from_partitions(spec: dict[str, Any]) -> None:
    v = Vertex.model_validate({"spec": {**spec, "scale": {"disabled": True}, "lifecycle": {}}})
    if v.is_reduce_udf():
        assert v.calculate_replicas() == v.get_partition_count()
    else:
        assert v.calculate_replicas() == (1 if v.spec.replicas is None else v.spec.replicas)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, 1),
        ({"replicas": 4}, 4),
        ({"replicas": 4, "lifecycle": {"desiredPhase": "Paused"}}, 0),
        ({"replicas": 9, "scale": {"max": 5}}, 5),
        ({"replicas": 0, "scale": {"min": 2}}, 2),
        ({"replicas": 0, "scale": {"min": 2, "disabled": True}}, 0),
    ],
)
def test_mono_vertex_replicas(spec: dict[str, Any], expected: int) -> None:
    mv = MonoVertex.model_validate({"spec": {"source": {"generator": {}}, "sink": {"log": {}}, **spec}})
    assert mv.calculate_replicas() == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"source": {"generator": {}}}, True),
        ({"sink": {"log": {}}}, True),
        ({"udf": {"container": {"image": "m"}}}, True),
        ({"udf": REDUCE}, False),
        ({"sink": {"log": {}}, "scale": {"disabled": True}}, False),
    ],
)
def test_scalable(spec: dict[str, Any], expected: bool) -> None:
    assert Vertex.model_validate({"spec": {"name": "v", **spec}}).scalable() is expected
