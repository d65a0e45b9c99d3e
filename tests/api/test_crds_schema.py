"""The generated openAPIV3Schemas against real objects: every example is accepted, wrong types are not.

Kubernetes' schema dialect is translated to JSON Schema Draft 7 by a small helper (``nullable`` → a
``"null"`` type, ``x-kubernetes-int-or-string`` → integer or string, objects without
``x-kubernetes-preserve-unknown-fields`` reject unknown fields as ``kubectl apply --validate=strict`` does).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from numaflux.api import (
    InterStepBufferServiceStatus,
    MonoVertexStatus,
    PipelineStatus,
    VertexCounts,
    VertexStatus,
    load_object,
)
from numaflux.api.crds import generate_crds

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def to_draft7(node: dict[str, Any]) -> dict[str, Any]:
    """A Draft 7 schema that accepts what Kubernetes accepts for ``node`` (with strict field validation)."""
    out: dict[str, Any] = {}
    types: list[str] | None
    if node.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif "type" in node:
        types = [node["type"]]
    else:
        types = None  # preserve-unknown without a type: any value
    if types is not None:
        if node.get("nullable"):
            types.append("null")
        out["type"] = types
    if "enum" in node:
        out["enum"] = list(node["enum"])
    for key in (
        "required",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
    ):
        if key in node:
            out[key] = node[key]
    if "properties" in node:
        out["properties"] = {name: to_draft7(sub) for name, sub in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_draft7(node["additionalProperties"])
    elif node.get("type") == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if "items" in node:
        out["items"] = to_draft7(node["items"])
    return out


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft7Validator]:
    out = {}
    for crd in generate_crds():
        schema = to_draft7(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}  # the API server checks ObjectMeta itself
        jsonschema.Draft7Validator.check_schema(schema)
        out[crd["spec"]["names"]["kind"]] = jsonschema.Draft7Validator(schema)
    return out


def errors(validators: dict[str, jsonschema.Draft7Validator], doc: dict[str, Any]) -> list[str]:
    found = validators[doc["kind"]].iter_errors(doc)
    return [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in found]


def examples(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(directory.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                out.append((f"{path.name}#{i}", doc))
    return out


def example(directory: Path, name: str) -> dict[str, Any]:
    docs = [doc for file, doc in examples(directory) if file.startswith(name + ".yaml#")]
    assert docs, f"example {name} not found"
    return copy.deepcopy(docs[0])


def vertex_docs(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The Vertex objects a pipeline controller would write for ``pipeline`` (spec fields NumaFlow copies)."""
    spec = pipeline["spec"]
    out = []
    for v in spec["vertices"]:
        name = v["name"]
        edge = {"fromVertexType": "Source", "fromVertexPartitionCount": 1, "toVertexType": "Sink"}
        vspec = {
            **copy.deepcopy(v),
            "pipelineName": pipeline["metadata"]["name"],
            "interStepBufferServiceName": spec.get("interStepBufferServiceName", ""),
            "replicas": 1,
            "fromEdges": [{**e, **edge} for e in spec["edges"] if e["to"] == name],
            "toEdges": [
                {**e, **edge, "toVertexLimits": {"readBatchSize": 500}}
                for e in spec["edges"]
                if e["from"] == name
            ],
            "watermark": spec.get("watermark", {"maxDelay": "0s"}),
            "lifecycle": {"desiredPhase": "Running"},
        }
        out.append(
            {
                "apiVersion": "numaflow.numaproj.io/v1alpha1",
                "kind": "Vertex",
                "metadata": {"name": f"{pipeline['metadata']['name']}-{name}"},
                "spec": vspec,
            }
        )
    return out


def test_every_upstream_example_is_accepted_by_its_kinds_schema(
    validators: dict[str, jsonschema.Draft7Validator], shared_examples_dir: Path
) -> None:
    docs = examples(shared_examples_dir)
    assert {doc["kind"] for _, doc in docs} >= {"Pipeline", "MonoVertex", "InterStepBufferService"}
    for name, doc in docs:
        assert errors(validators, doc) == [], name


def test_vertices_built_from_every_example_pipeline_are_accepted_by_the_vertex_schema(
    validators: dict[str, jsonschema.Draft7Validator], shared_examples_dir: Path
) -> None:
    count = 0
    for name, doc in examples(shared_examples_dir):
        if doc["kind"] != "Pipeline":
            continue
        for vertex in vertex_docs(doc):
            load_object(vertex)  # the model agrees that this is a valid Vertex
            assert errors(validators, vertex) == [], f"{name}: {vertex['metadata']['name']}"
            count += 1
    assert count > 20


def test_statuses_written_by_the_models_are_accepted(
    validators: dict[str, jsonschema.Draft7Validator], shared_examples_dir: Path
) -> None:
    pl = example(shared_examples_dir, "1-simple-pipeline")
    pl_status = PipelineStatus()
    pl_status.init_conditions(NOW)
    pl_status.mark_configured(NOW)
    pl_status.set_vertex_counts(VertexCounts(vertices=3, sources=1, sinks=1, map_udfs=1, reduce_udfs=0))
    pl_status.mark_phase_running()
    pl_status.drained_on_pause = False
    pl_status.observed_generation = 2
    pl["status"] = pl_status.model_dump(mode="json", by_alias=True, exclude_none=True)

    vtx = vertex_docs(example(shared_examples_dir, "1-simple-pipeline"))[0]
    v_status = VertexStatus(replicas=1, desired_replicas=1, ready_replicas=1, selector="a=b")
    v_status.init_conditions(NOW)
    v_status.mark_pod_not_healthy("Progressing", "1/2 ready", NOW)
    vtx["status"] = v_status.model_dump(mode="json", by_alias=True, exclude_none=True)

    mv = example(shared_examples_dir, "21-simple-mono-vertex")
    mv_status = MonoVertexStatus(replicas=2, desired_replicas=2, last_scaled_at="2026-01-02T03:04:05Z")
    mv_status.init_conditions(NOW)
    mv_status.mark_phase_running()
    mv["status"] = mv_status.model_dump(mode="json", by_alias=True, exclude_none=True)

    isb = example(shared_examples_dir, "0-isbsvc-jetstream")
    isb_status = InterStepBufferServiceStatus.model_validate(
        {"type": "jetstream", "config": {"jetstream": {"url": "nats://x:4222", "auth": {"basic": {}}}}}
    )
    isb_status.init_conditions(NOW)
    isb_status.mark_deployed(NOW)
    isb["status"] = isb_status.model_dump(mode="json", by_alias=True, exclude_none=True)

    for doc in (pl, vtx, mv, isb):
        assert doc["status"]["conditions"]
        assert errors(validators, doc) == [], doc["kind"]


def _set(doc: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


# (example, path to change, wrong value, the schema path the error must name)
MUTATIONS: list[tuple[str, list[str | int], Any, str]] = [
    ("5-auto-scaling", ["spec", "vertices", 1, "scale", "min"], "two", "spec.vertices.1.scale.min"),
    ("1-simple-pipeline", ["spec", "edges"], {}, "spec.edges"),
    (
        "5-auto-scaling",
        ["spec", "vertices", 0, "source", "generator", "rpu"],
        "x",
        "spec.vertices.0.source.generator.rpu",
    ),
    ("1-simple-pipeline", ["spec", "vertices", 0, "scale"], {"mni": 1}, "spec.vertices.0.scale"),
    ("1-simple-pipeline", ["spec", "watermark"], {"disabled": "yes"}, "spec.watermark.disabled"),
    ("1-simple-pipeline", ["spec", "edges", 0, "onFull"], "dropAll", "spec.edges.0.onFull"),
    (
        "1-simple-pipeline",
        ["spec", "vertices", 1, "updateStrategy"],
        {"rollingUpdate": {"maxUnavailable": 1.5}},
        "spec.vertices.1.updateStrategy.rollingUpdate.maxUnavailable",
    ),
    (
        "1-simple-pipeline",
        ["spec", "vertices", 1, "udf", "container", "env"],
        {"name": "A"},
        "spec.vertices.1.udf.container.env",
    ),
    ("1-simple-pipeline", ["spec", "limits"], {"readBatchSize": True}, "spec.limits.readBatchSize"),
    ("21-simple-mono-vertex", ["spec", "replicas"], "3", "spec.replicas"),
    ("21-simple-mono-vertex", ["spec", "sink", "fallback"], [], "spec.sink.fallback"),
    (
        "0-isbsvc-jetstream",
        ["spec", "jetstream", "persistence", "volumeSize"],
        3,
        "spec.jetstream.persistence.volumeSize",
    ),
    ("0-isbsvc-jetstream", ["spec", "jetstream", "replicas"], "3", "spec.jetstream.replicas"),
]


@pytest.mark.parametrize(("name", "path", "value", "where"), MUTATIONS, ids=[m[3] for m in MUTATIONS])
def test_a_spec_with_a_wrong_type_is_rejected_by_the_schema_and_by_the_model(
    validators: dict[str, jsonschema.Draft7Validator],
    shared_examples_dir: Path,
    name: str,
    path: list[str | int],
    value: Any,
    where: str,
) -> None:
    doc = _set(example(shared_examples_dir, name), path, value)
    found = errors(validators, doc)
    assert found, f"{where}={value!r} was accepted"
    assert any(e.startswith(where + ":") for e in found), found
    with pytest.raises(ValidationError):
        load_object(doc)


def test_a_vertex_with_a_string_replica_count_is_rejected(
    validators: dict[str, jsonschema.Draft7Validator], shared_examples_dir: Path
) -> None:
    vtx = vertex_docs(example(shared_examples_dir, "1-simple-pipeline"))[0]
    vtx["spec"]["replicas"] = "1"
    assert [e for e in errors(validators, vtx) if e.startswith("spec.replicas:")]


def test_a_status_with_a_wrong_type_is_rejected(
    validators: dict[str, jsonschema.Draft7Validator], shared_examples_dir: Path
) -> None:
    pl = example(shared_examples_dir, "1-simple-pipeline")
    pl["status"] = {"vertexCount": "three"}
    assert [e for e in errors(validators, pl) if e.startswith("status.vertexCount:")]


# JSON values of every scalar type; integral floats are left out (JSON cannot tell 1.0 from 1).
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
)
TYPED_FIELDS: list[list[str | int]] = [
    ["spec", "vertices", 1, "scale", "min"],
    ["spec", "vertices", 0, "source", "generator", "rpu"],
    ["spec", "vertices", 1, "updateStrategy", "rollingUpdate", "maxUnavailable"],
    ["spec", "vertices", 2, "sink", "retryStrategy", "backoff", "factor"],
    ["spec", "watermark", "disabled"],
    ["spec", "interStepBufferServiceName"],
    ["spec", "limits", "bufferUsageLimit"],
]


def _build(base: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    node: Any = doc
    for part in path[:-1]:
        if isinstance(node, dict) and part not in node:
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return doc


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(TYPED_FIELDS), value=SCALARS)
def test_schema_and_model_agree_on_the_type_of_scalar_fields(
    field: list[str | int],
    value: Any,
    validators: dict[str, jsonschema.Draft7Validator],
    base_pipeline: dict[str, Any],
) -> None:
    doc = _build(base_pipeline, field, value)
    schema_ok = not errors(validators, doc)
    try:
        load_object(doc)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert schema_ok == model_ok, (field, value)


@pytest.fixture(scope="module")
def base_pipeline(shared_examples_dir: Path) -> dict[str, Any]:
    return example(shared_examples_dir, "1-simple-pipeline")
