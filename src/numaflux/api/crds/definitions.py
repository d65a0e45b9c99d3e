"""The four NumaFlow CustomResourceDefinitions (apiextensions.k8s.io/v1), with schemas from the models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from numaflux.api import constants as c
from numaflux.api.crds.structural import JSON, structural_schema
from numaflux.api.isbsvc import InterStepBufferService
from numaflux.api.monovertex import MonoVertex
from numaflux.api.pipeline import Pipeline
from numaflux.api.vertex import Vertex

CATEGORY = "numaflow"
SCALE_SUBRESOURCE: JSON = {
    "specReplicasPath": ".spec.replicas",
    "statusReplicasPath": ".status.replicas",
    "labelSelectorPath": ".status.selector",
}
# The one schema default NumaFlow's minimal CRDs keep; every other default is applied by getters.
VERTEX_REPLICAS_DEFAULT = 1


def _column(name: str, type_: str, json_path: str, priority: int = 0) -> JSON:
    col: JSON = {"name": name, "type": type_, "jsonPath": json_path}
    if priority:
        col["priority"] = priority
    return col


_AGE = _column("Age", "date", ".metadata.creationTimestamp")
# NumaFlow's replica columns are typed string although the values are integers; kept as upstream has them.
_REPLICA_COLUMNS = [
    _column("Phase", "string", ".status.phase"),
    _column("Desired", "string", ".status.desiredReplicas"),
    _column("Current", "string", ".status.replicas"),
    _column("Ready", "string", ".status.readyReplicas"),
    _AGE,
    _column("Reason", "string", ".status.reason"),
    _column("Message", "string", ".status.message"),
]


@dataclass(frozen=True)
class KindInfo:
    """Names, printer columns and subresources of one kind."""

    kind: str
    plural: str
    singular: str
    short_name: str
    model: type[BaseModel]
    description: str
    columns: tuple[JSON, ...]
    scalable: bool

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{c.API_GROUP}"

    def names(self) -> set[str]:
        """Every name ``--kind`` accepts for this kind, lower case."""
        return {self.kind.lower(), self.plural, self.singular, self.short_name}


KIND_INFOS: tuple[KindInfo, ...] = (
    KindInfo(
        kind=c.KIND_PIPELINE,
        plural="pipelines",
        singular="pipeline",
        short_name="pl",
        model=Pipeline,
        description="A NumaFlow pipeline: source, UDF and sink vertices joined by inter-step buffers.",
        columns=(
            _column("Phase", "string", ".status.phase"),
            _column("Vertices", "integer", ".status.vertexCount"),
            _column("Sources", "integer", ".status.sourceCount", 10),
            _column("Sinks", "integer", ".status.sinkCount", 10),
            _column("UDFs", "integer", ".status.udfCount", 10),
            _column("Map UDFs", "integer", ".status.mapUDFCount", 10),
            _column("Reduce UDFs", "integer", ".status.reduceUDFCount", 10),
            _AGE,
            _column("Message", "string", ".status.message"),
        ),
        scalable=False,
    ),
    KindInfo(
        kind=c.KIND_VERTEX,
        plural="vertices",
        singular="vertex",
        short_name="vtx",
        model=Vertex,
        description="One vertex of a pipeline, created by the pipeline controller; runs its pods.",
        columns=tuple(_REPLICA_COLUMNS),
        scalable=True,
    ),
    KindInfo(
        kind=c.KIND_MONO_VERTEX,
        plural="monovertices",
        singular="monovertex",
        short_name="mvtx",
        model=MonoVertex,
        description="Source, optional map and sink in one pod, without inter-step buffers.",
        columns=tuple(_REPLICA_COLUMNS),
        scalable=True,
    ),
    KindInfo(
        kind=c.KIND_ISB_SERVICE,
        plural="interstepbufferservices",
        singular="interstepbufferservice",
        short_name="isbsvc",
        model=InterStepBufferService,
        description="The inter-step buffer service (JetStream) that pipelines exchange messages through.",
        columns=(
            _column("Type", "string", ".status.type"),
            _column("Phase", "string", ".status.phase"),
            _AGE,
            _column("Message", "string", ".status.message"),
        ),
        scalable=False,
    ),
)


class UnknownCRDKindError(ValueError):
    """``--kind`` names none of the four kinds."""


def kind_info(name: str) -> KindInfo:
    """The kind named by ``name``: kind, plural, singular or short name, any case."""
    wanted = name.strip().lower()
    for info in KIND_INFOS:
        if wanted in info.names():
            return info
    known = ", ".join(f"{i.kind} ({i.short_name})" for i in KIND_INFOS)
    raise UnknownCRDKindError(f"unknown kind {name!r}; expected one of {known}")


def openapi_schema(info: KindInfo) -> JSON:
    """The structural ``openAPIV3Schema`` of a kind."""
    schema = structural_schema(info.model)
    props: dict[str, Any] = schema["properties"]
    # At the root Kubernetes owns apiVersion, kind and metadata: plain types, nothing else.
    props["apiVersion"] = {"description": "APIVersion of the object.", "type": "string"}
    props["kind"] = {"description": "Kind of the object.", "type": "string"}
    props["metadata"] = {"type": "object"}
    if info.kind == c.KIND_VERTEX:
        props["spec"]["properties"]["replicas"]["default"] = VERTEX_REPLICAS_DEFAULT
    return {"description": info.description, **schema}


def crd_for(info: KindInfo) -> JSON:
    """The CustomResourceDefinition of one kind."""
    subresources: JSON = {"status": {}}
    if info.scalable:
        subresources["scale"] = dict(SCALE_SUBRESOURCE)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name},
        "spec": {
            "group": c.API_GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": [info.short_name],
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": c.API_VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [dict(col) for col in info.columns],
                    "subresources": subresources,
                    "schema": {"openAPIV3Schema": openapi_schema(info)},
                }
            ],
        },
    }


def generate_crds(kinds: list[str] | None = None) -> list[JSON]:
    """The CRDs of ``kinds`` (any name ``kind_info`` accepts), or of all four kinds in a fixed order."""
    infos = list(KIND_INFOS) if not kinds else [kind_info(k) for k in kinds]
    seen: set[str] = set()
    out: list[JSON] = []
    for info in infos:
        if info.kind not in seen:
            seen.add(info.kind)
            out.append(crd_for(info))
    return out
