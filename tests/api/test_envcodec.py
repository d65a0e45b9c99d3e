"""Objects handed to pods through environment variables."""

from __future__ import annotations

import base64

import pytest

from numaflux.api import Pipeline, Vertex
from numaflux.api.envcodec import ObjectDecodeError, decode_object, encode_object

VERTEX = {
    "apiVersion": "numaflow.numaproj.io/v1alpha1",
    "kind": "Vertex",
    "metadata": {"name": "p-cat", "namespace": "default"},
    "spec": {"name": "cat", "pipelineName": "p", "scale": {"min": 1, "max": 3}},
}


def test_a_vertex_survives_encoding_and_decoding() -> None:
    vertex = Vertex.model_validate(VERTEX)
    decoded = decode_object(encode_object(vertex), Vertex, env_name="NUMAFLOW_VERTEX_OBJECT", kind="Vertex")
    assert decoded == vertex


def test_encoding_is_stable_whatever_the_key_order() -> None:
    reordered = {"spec": VERTEX["spec"], "metadata": VERTEX["metadata"], "kind": "Vertex"}
    reordered["apiVersion"] = VERTEX["apiVersion"]
    assert encode_object(reordered) == encode_object(VERTEX)


def test_apiversion_and_kind_may_be_left_out() -> None:
    bare = encode_object({"metadata": {"name": "p"}, "spec": {"vertices": [], "edges": []}})
    pipeline = decode_object(bare, Pipeline, env_name="NUMAFLOW_PIPELINE_OBJECT", kind="Pipeline")
    assert pipeline.kind == "Pipeline"
    assert pipeline.name == "p"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"{oops").decode(), "not JSON"),
        (encode_object({"spec": {"scale": {"min": "two"}}}), "not a Vertex"),
    ],
    ids=["bad-base64", "bad-json", "wrong-shape"],
)
def test_a_bad_value_is_reported_with_the_variable_name(value: str, problem: str) -> None:
    with pytest.raises(ObjectDecodeError) as err:
        decode_object(value, Vertex, env_name="NUMAFLOW_VERTEX_OBJECT", kind="Vertex")
    assert str(err.value).startswith(f"NUMAFLOW_VERTEX_OBJECT: {problem}")
