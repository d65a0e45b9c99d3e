"""Validation of the other kinds, dispatch by kind, and whole-document checking (load + validate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from numaflux.api.errors import FieldError, field_errors_from_pydantic
from numaflux.api.isbsvc import InterStepBufferService
from numaflux.api.loader import NumaObject, UnknownKindError, load_object
from numaflux.api.monovertex import MonoVertex
from numaflux.api.pipeline import Pipeline
from numaflux.api.validation._report import Report
from numaflux.api.validation.components import (
    check_cron,
    check_extra_containers,
    check_limits,
    check_scale_bounds,
    check_sink,
    check_source,
    check_udf,
    check_update_strategy,
)
from numaflux.api.validation.pipeline import check_object_name, validate_pipeline
from numaflux.api.validation.vertex import check_vertex
from numaflux.api.vertex import Vertex


def validate_vertex(vtx: Vertex) -> list[FieldError]:
    """A Vertex object (normally generated from a pipeline): its name, owner pipeline and vertex rules."""
    out = Report()
    check_object_name(vtx.metadata, "vertex", out)
    if not vtx.spec.pipeline_name:
        out.add("spec.pipelineName", "a vertex needs the name of its pipeline")
    if vtx.spec.replicas is not None and vtx.spec.replicas < 0:
        out.add("spec.replicas", f"replicas {vtx.spec.replicas} is negative")
    check_vertex(vtx.spec, "spec", out)
    for field_name, edges in (("fromEdges", vtx.spec.from_edges), ("toEdges", vtx.spec.to_edges)):
        for j, e in enumerate(edges or []):
            for end, value in (("from", e.from_), ("to", e.to)):
                if not value:
                    out.add(
                        f"spec.{field_name}[{j}].{end}", f"{end} is required: an edge needs both from and to"
                    )
    return out.errors


def validate_monovertex(mvtx: MonoVertex) -> list[FieldError]:
    """NumaFlow's MonoVertex rules: a source and a sink, map-only UDF, names, scale and cron."""
    out = Report()
    spec = mvtx.spec
    check_object_name(mvtx.metadata, "MonoVertex", out)
    if spec.source is None:
        out.add("spec.source", "a MonoVertex needs a source")
    else:
        if spec.source.serving is not None:
            out.add("spec.source.serving", "the serving source is not supported in a MonoVertex")
        if spec.is_streaming() and spec.source.kafka is not None:
            out.add(
                "spec.source.kafka",
                "the Kafka source is not supported with streaming: true (it commits offsets cumulatively, "
                "which out-of-order acknowledgement could turn into data loss)",
            )
        check_source(spec.source, "spec.source", out)
    if spec.sink is None:
        out.add("spec.sink", "a MonoVertex needs a sink")
    else:
        check_sink(spec.sink, "spec.sink", out)
    if spec.udf is not None:
        check_udf(spec.udf, "spec.udf", out, allow_reduce=False)
    if spec.replicas is not None and spec.replicas < 0:
        out.add("spec.replicas", f"replicas {spec.replicas} is negative")
    check_extra_containers(spec.init_containers, spec.sidecars, "spec", out)
    check_update_strategy(spec.update_strategy, "spec.updateStrategy", out)
    check_scale_bounds(spec.scale, "spec.scale", out)
    if spec.scale is not None:
        check_cron(spec.scale, "spec.scale", out)
    check_limits(spec.limits, "spec.limits", out)
    return out.errors


def validate_isbsvc(isbsvc: InterStepBufferService) -> list[FieldError]:
    """A JetStream ISB service with a version and 1 or >= 3 replicas (2 has no quorum)."""
    out = Report()
    check_object_name(isbsvc.metadata, "InterStepBufferService", out)
    js = isbsvc.spec.jetstream
    if js is None:
        out.add("spec.jetstream", "spec.jetstream is required (JetStream is the only ISB service type)")
        return out.errors
    if not js.version:
        out.add("spec.jetstream.version", "version is required")
    if js.replicas is not None and (js.replicas <= 0 or js.replicas == 2):
        out.add("spec.jetstream.replicas", f"replicas {js.replicas}: the minimum is 1 and it can't be 2")
    return out.errors


def validate_object(obj: NumaObject) -> list[FieldError]:
    """Validate any of the four kinds."""
    if isinstance(obj, Pipeline):
        return validate_pipeline(obj)
    if isinstance(obj, Vertex):
        return validate_vertex(obj)
    if isinstance(obj, MonoVertex):
        return validate_monovertex(obj)
    return validate_isbsvc(obj)


@dataclass
class DocumentResult:
    """What checking one parsed document found: the object (when it loaded) and every error."""

    kind: str
    name: str
    obj: NumaObject | None = None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_document(doc: Any) -> DocumentResult:
    """Load ``doc`` (a parsed YAML/JSON object) and validate it; model errors come with their paths."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    result = DocumentResult(
        kind=kind if isinstance(kind, str) and kind else "?",
        name=name if isinstance(name, str) and name else "?",
    )
    try:
        result.obj = load_object(doc)
    except UnknownKindError as exc:
        result.errors.append(FieldError("", str(exc)))
        return result
    except ValidationError as exc:
        result.errors.extend(field_errors_from_pydantic(exc))
        return result
    result.errors.extend(validate_object(result.obj))
    return result
