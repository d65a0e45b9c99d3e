"""`numaflux crds`: the CRDs themselves (names, columns, subresources, structural schemas)."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.version import Version
from pydantic import BaseModel
from typer.testing import CliRunner

from numaflux.api._base import NumaModel
from numaflux.api.crds import (
    SchemaConversionError,
    UnknownCRDKindError,
    crds_yaml,
    generate_crds,
    kind_info,
    structural_schema,
)
from numaflux.cli.main import app

KINDS = ["Pipeline", "Vertex", "MonoVertex", "InterStepBufferService"]


@pytest.fixture(scope="module")
def crds() -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: crd for crd in generate_crds()}


def version_of(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    return dict(versions[0])


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    return dict(version_of(crd)["schema"]["openAPIV3Schema"])


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    yield path or "<root>", schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}.*")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from nodes(sub, f"{path}/{key}[{i}]")
    if "not" in schema:
        yield from nodes(schema["not"], f"{path}/not")


def test_generate_crds_gives_the_four_kinds_in_order() -> None:
    assert [crd["spec"]["names"]["kind"] for crd in generate_crds()] == KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_each_crd_validates_against_kubernetes_own_apiextensions_v1_schema(
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    latest = kubernetes_validate.latest_version()
    assert Version(latest) >= Version("1.30")
    assert kubernetes_validate.validate(crds[kind], latest, strict=True) == ".".join(latest.split(".")[:2])


def json_schema_props_validator() -> jsonschema.Draft202012Validator:
    """Kubernetes' JSONSchemaProps definition from the kubernetes-validate package (offline)."""
    latest = kubernetes_validate.latest_version()
    folder = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{latest}-local-strict"
    )
    defs = json.loads((folder / "_definitions.json").read_text())
    name = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    return jsonschema.Draft202012Validator({**defs, "$ref": f"#/$defs/{name}"})


@pytest.mark.parametrize("kind", KINDS)
def test_every_nested_schema_node_validates_as_kubernetes_json_schema_props(
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    # kubernetes-validate stops checking below `items` (JSONSchemaPropsOrArray is untyped there), so every
    # node is also checked on its own.
    validator = json_schema_props_validator()
    for path, node in nodes(schema_of(crds[kind])):
        flat = {k: v for k, v in node.items() if k not in ("properties", "items", "additionalProperties")}
        assert [e.message for e in validator.iter_errors(flat)] == [], path
    assert list(validator.iter_errors({"type": "object", "nullable": "yes"}))


def test_kubernetes_validate_rejects_a_crd_with_a_wrong_field_type(crds: dict[str, dict[str, Any]]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(crds["Vertex"]))
    broken["spec"]["versions"][0]["served"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize(
    ("kind", "plural", "singular", "short"),
    [
        ("Pipeline", "pipelines", "pipeline", "pl"),
        ("Vertex", "vertices", "vertex", "vtx"),
        ("MonoVertex", "monovertices", "monovertex", "mvtx"),
        ("InterStepBufferService", "interstepbufferservices", "interstepbufferservice", "isbsvc"),
    ],
)
def test_names_group_and_version_are_numaflows(
    crds: dict[str, dict[str, Any]], kind: str, plural: str, singular: str, short: str
) -> None:
    crd = crds[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.numaflow.numaproj.io"
    assert crd["spec"]["group"] == "numaflow.numaproj.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "shortNames": [short],
        "categories": ["numaflow"],
    }
    version = version_of(crd)
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def columns(crd: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in version_of(crd)["additionalPrinterColumns"]
    ]


def test_pipeline_printer_columns(crds: dict[str, dict[str, Any]]) -> None:
    assert columns(crds["Pipeline"]) == [
        ("Phase", "string", ".status.phase", 0),
        ("Vertices", "integer", ".status.vertexCount", 0),
        ("Sources", "integer", ".status.sourceCount", 10),
        ("Sinks", "integer", ".status.sinkCount", 10),
        ("UDFs", "integer", ".status.udfCount", 10),
        ("Map UDFs", "integer", ".status.mapUDFCount", 10),
        ("Reduce UDFs", "integer", ".status.reduceUDFCount", 10),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Message", "string", ".status.message", 0),
    ]


@pytest.mark.parametrize("kind", ["Vertex", "MonoVertex"])
def test_vertex_and_monovertex_printer_columns(crds: dict[str, dict[str, Any]], kind: str) -> None:
    assert columns(crds[kind]) == [
        ("Phase", "string", ".status.phase", 0),
        ("Desired", "string", ".status.desiredReplicas", 0),
        ("Current", "string", ".status.replicas", 0),
        ("Ready", "string", ".status.readyReplicas", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Reason", "string", ".status.reason", 0),
        ("Message", "string", ".status.message", 0),
    ]


def test_isb_service_printer_columns(crds: dict[str, dict[str, Any]]) -> None:
    assert columns(crds["InterStepBufferService"]) == [
        ("Type", "string", ".status.type", 0),
        ("Phase", "string", ".status.phase", 0),
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Message", "string", ".status.message", 0),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_every_printer_column_points_at_a_field_of_the_schema(
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    paths = {path for path, _ in nodes(schema_of(crds[kind]))}
    for name, _, json_path, _ in columns(crds[kind]):
        if json_path.startswith(".metadata."):
            continue
        assert json_path in paths, name


@pytest.mark.parametrize("kind", ["Vertex", "MonoVertex"])
def test_vertex_and_monovertex_have_the_scale_subresource(crds: dict[str, dict[str, Any]], kind: str) -> None:
    assert version_of(crds[kind])["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    props = schema_of(crds[kind])["properties"]
    assert props["spec"]["properties"]["replicas"]["type"] == "integer"
    assert props["status"]["properties"]["replicas"]["type"] == "integer"
    assert props["status"]["properties"]["selector"]["type"] == "string"


@pytest.mark.parametrize("kind", ["Pipeline", "InterStepBufferService"])
def test_pipeline_and_isb_service_have_only_the_status_subresource(
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    assert version_of(crds[kind])["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", KINDS)
def test_every_schema_node_is_structural(crds: dict[str, dict[str, Any]], kind: str) -> None:
    count = 0
    for path, node in nodes(schema_of(crds[kind])):
        count += 1
        assert "$ref" not in node and "$defs" not in node, path
        assert not {"anyOf", "oneOf", "allOf", "not"} & set(node), path
        assert "title" not in node, path
        typed = "type" in node
        assert (
            typed
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ), path
        if node.get("x-kubernetes-int-or-string"):
            assert not typed, path
        if typed:
            assert node["type"] in {"object", "array", "string", "integer", "number", "boolean"}, path
        if "additionalProperties" in node:
            assert isinstance(node["additionalProperties"], dict), path
            assert "properties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"), path
        if node.get("type") == "array":
            assert "items" in node, path
        assert isinstance(node.get("description", ""), str) and len(node.get("description", "")) <= 200, path
    assert count > 50


@pytest.mark.parametrize("kind", KINDS)
def test_the_root_keeps_apiversion_kind_and_metadata_plain(
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    schema = schema_of(crds[kind])
    assert schema["type"] == "object"
    assert schema["required"] == ["spec"]
    props = schema["properties"]
    assert set(props) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert props["metadata"] == {"type": "object"}
    assert props["apiVersion"]["type"] == props["kind"]["type"] == "string"
    assert "enum" not in props["apiVersion"] and "enum" not in props["kind"]


def test_the_only_default_is_vertex_spec_replicas_1(crds: dict[str, dict[str, Any]]) -> None:
    defaults = [
        (kind, path, node["default"])
        for kind in KINDS
        for path, node in nodes(schema_of(crds[kind]))
        if "default" in node
    ]
    assert defaults == [("Vertex", ".spec.replicas", 1)]


def test_embedded_kubernetes_types_are_preserved_unknown(crds: dict[str, dict[str, Any]]) -> None:
    spec = schema_of(crds["Pipeline"])["properties"]["spec"]
    vertex = spec["properties"]["vertices"]["items"]["properties"]
    open_object = {"type": "object", "nullable": True, "x-kubernetes-preserve-unknown-fields": True}
    open_array = {
        "type": "array",
        "nullable": True,
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }
    assert vertex["affinity"] == open_object
    assert vertex["tolerations"] == open_array
    assert vertex["volumes"] == open_array
    assert vertex["sidecars"] == open_array
    container = vertex["udf"]["properties"]["container"]["properties"]
    assert container["resources"] == open_object
    assert container["env"] == open_array
    assert container["readinessProbe"] == open_object
    assert vertex["containerTemplate"]["properties"]["resources"] == open_object


def test_int_or_string_durations_nullables_and_enums(crds: dict[str, dict[str, Any]]) -> None:
    vertex = schema_of(crds["Pipeline"])["properties"]["spec"]["properties"]["vertices"]["items"][
        "properties"
    ]
    max_unavailable = vertex["updateStrategy"]["properties"]["rollingUpdate"]["properties"]["maxUnavailable"]
    assert max_unavailable == {"x-kubernetes-int-or-string": True, "nullable": True}
    generator = vertex["source"]["properties"]["generator"]["properties"]
    assert generator["duration"] == {"type": "string", "nullable": True}
    assert generator["rpu"] == {"type": "integer", "nullable": True}
    edge = schema_of(crds["Pipeline"])["properties"]["spec"]["properties"]["edges"]["items"]["properties"]
    # An enum is not nullable: Kubernetes would check null against the enum; a null is pruned instead.
    assert edge["onFull"] == {"type": "string", "enum": ["retryUntilSuccess", "discardLatest"]}
    assert set(edge) >= {"from", "to", "conditions", "onFull"}


def test_status_schemas_come_from_the_status_models(crds: dict[str, dict[str, Any]]) -> None:
    status = schema_of(crds["Pipeline"])["properties"]["status"]
    assert status["type"] == "object"
    assert "x-kubernetes-preserve-unknown-fields" not in status
    assert {"phase", "conditions", "vertexCount", "mapUDFCount", "reduceUDFCount", "drainedOnPause"} <= set(
        status["properties"]
    )
    condition = status["properties"]["conditions"]["items"]
    assert condition["required"] == ["type", "status"]
    isb = schema_of(crds["InterStepBufferService"])["properties"]["status"]["properties"]
    assert isb["config"]["properties"]["jetstream"]["properties"]["url"]["type"] == "string"


def test_descriptions_come_from_model_docstrings(crds: dict[str, dict[str, Any]]) -> None:
    vertex = schema_of(crds["Pipeline"])["properties"]["spec"]["properties"]["vertices"]["items"][
        "properties"
    ]
    assert vertex["scale"]["description"] == "`scale` of a vertex or MonoVertex."
    assert schema_of(crds["Vertex"])["description"]


class Node(NumaModel):
    """A tree node."""

    value: int | None = None
    children: list[Node] | None = None


class Holder(NumaModel):
    root: Node | None = None
    extra: dict[str, Any] | None = None
    anything: Any = None


def test_a_model_that_contains_itself_is_cut_with_preserve_unknown_fields() -> None:
    schema = structural_schema(Holder)
    root = schema["properties"]["root"]
    assert root["properties"]["value"] == {"type": "integer", "nullable": True}
    assert root["properties"]["children"]["items"] == {
        "description": "A tree node.",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert schema["properties"]["extra"] == {
        "type": "object",
        "nullable": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert schema["properties"]["anything"] == {"x-kubernetes-preserve-unknown-fields": True}


class WithUnion(BaseModel):
    value: int | bool | None = None


def test_a_union_without_a_structural_form_is_an_error_naming_the_field() -> None:
    with pytest.raises(SchemaConversionError, match=r"^value: union"):
        structural_schema(WithUnion)


def test_kind_accepts_kind_plural_singular_and_short_names() -> None:
    for name in ("Pipeline", "pipelines", "pipeline", "pl", "PL"):
        assert kind_info(name).kind == "Pipeline"
    assert kind_info("isbsvc").kind == "InterStepBufferService"
    with pytest.raises(UnknownCRDKindError, match="unknown kind 'pods'"):
        kind_info("pods")


def test_crds_yaml_is_a_stream_of_one_document_per_crd() -> None:
    docs = list(yaml.safe_load_all(crds_yaml()))
    assert docs == generate_crds()
    assert [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(crds_yaml(["mvtx", "vtx", "vertex"]))] == [
        "MonoVertex",
        "Vertex",
    ]


def test_cli_prints_four_yaml_documents() -> None:
    result = CliRunner().invoke(app, ["crds"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    assert len(docs) == 4
    assert [d["metadata"]["name"] for d in docs] == [
        "pipelines.numaflow.numaproj.io",
        "vertices.numaflow.numaproj.io",
        "monovertices.numaflow.numaproj.io",
        "interstepbufferservices.numaflow.numaproj.io",
    ]


def test_cli_kind_option_selects_one_crd_and_rejects_unknown_kinds() -> None:
    result = CliRunner().invoke(app, ["crds", "--kind", "pl"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["spec"]["names"]["kind"] for d in docs] == ["Pipeline"]
    bad = CliRunner().invoke(app, ["crds", "--kind", "Deployment"])
    assert bad.exit_code == 2
    assert "unknown kind 'Deployment'" in bad.stderr
