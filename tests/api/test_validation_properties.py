"""Property tests: linear pipelines are always valid; an edge out of a sink is always an error there."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from numaflux.api.validation import validate_document

GV = "numaflow.numaproj.io/v1alpha1"

# Short DNS-1035 labels, so "{pipeline}-{vertex}-headless" stays within 63 characters.
label = st.from_regex(r"[a-z]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)

sources = st.sampled_from(
    [
        {"generator": {"rpu": 5, "duration": "1s"}},
        {"http": {}},
        {"udsource": {"container": {"image": "src:1"}}},
        {"generator": {}, "transformer": {"container": {"image": "tf:1"}}},
    ]
)
sinks = st.sampled_from(
    [
        {"log": {}},
        {"blackhole": {}},
        {
            "udsink": {"container": {"image": "sink:1"}},
            "fallback": {"log": {}},
            "retryStrategy": {"onFailure": "fallback"},
        },
    ]
)


@st.composite
def scales(draw: st.DrawFn) -> dict[str, Any]:
    lo = draw(st.integers(0, 10))
    hi = draw(st.integers(lo, 60))
    return {"min": lo, "max": hi}


@st.composite
def linear_pipelines(draw: st.DrawFn) -> dict[str, Any]:
    """source -> k map UDFs -> sink, with unique names and random valid extras."""
    k = draw(st.integers(0, 6))
    names = draw(st.lists(label, min_size=k + 2, max_size=k + 2, unique=True))
    vertices: list[dict[str, Any]] = [{"name": names[0], "source": draw(sources)}]
    for name in names[1:-1]:
        udf: dict[str, Any] = {"name": name, "udf": {"container": {"image": f"{name}:1"}}}
        if draw(st.booleans()):
            udf["scale"] = draw(scales())
        if draw(st.booleans()):
            udf["partitions"] = draw(st.integers(0, 8))
        vertices.append(udf)
    vertices.append({"name": names[-1], "sink": draw(sinks), "scale": draw(scales())})
    edges = [{"from": a, "to": b} for a, b in itertools.pairwise(names)]
    return {
        "apiVersion": GV,
        "kind": "Pipeline",
        "metadata": {"name": draw(label)},
        "spec": {"vertices": vertices, "edges": edges},
    }


@settings(max_examples=150, deadline=None)
@given(linear_pipelines())
def test_random_linear_pipelines_always_validate(doc: dict[str, Any]) -> None:
    assert validate_document(doc).errors == []


@settings(max_examples=150, deadline=None)
@given(linear_pipelines(), st.data())
def test_an_edge_out_of_a_sink_is_always_an_error_at_that_edge(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    names = [v["name"] for v in doc["spec"]["vertices"]]
    target = data.draw(st.sampled_from([*names, "elsewhere"]))
    edges = doc["spec"]["edges"]
    edges.append({"from": names[-1], "to": target})
    errors = validate_document(doc).errors
    index = len(edges) - 1
    assert any(e.path.startswith(f"spec.edges[{index}]") for e in errors), errors
