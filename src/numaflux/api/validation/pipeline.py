"""``validate_pipeline``: every rule NumaFlow's pipeline validator applies, reporting all problems."""

from __future__ import annotations

from numaflux.api import naming
from numaflux.api.errors import FieldError
from numaflux.api.meta import ObjectMeta
from numaflux.api.pipeline import Pipeline
from numaflux.api.validation._report import Report, seconds
from numaflux.api.validation.components import check_image, check_limits
from numaflux.api.validation.graph import (
    check_connected,
    check_edges,
    check_reduce_after_cycle,
    check_vertex_roles,
)
from numaflux.api.validation.names import DNS1035_MAX_LENGTH, dns1035_problem
from numaflux.api.validation.vertex import check_vertex


def check_object_name(meta: ObjectMeta, kind: str, out: Report) -> bool:
    """``metadata.name`` must be a DNS-1035 label; returns whether it is.

    An object with only ``generateName`` gets its name from the API server (the prefix plus five
    characters), so the prefix is checked instead.
    """
    name = meta.name
    if not name and meta.generate_name:
        problem = dns1035_problem(meta.generate_name + "x0000")
        if problem is not None:
            out.add("metadata.generateName", f"invalid {kind} generateName {meta.generate_name!r}: {problem}")
        return False
    if not name:
        out.add("metadata.name", f"a {kind} needs a name (or a generateName)")
        return False
    if (problem := dns1035_problem(name)) is not None:
        out.add("metadata.name", f"invalid {kind} name: {problem}")
        return False
    return True


def _check_vertices(pl: Pipeline, name_ok: bool, out: Report) -> None:
    first: dict[str, int] = {}
    for i, v in enumerate(pl.vertices):
        path = f"spec.vertices[{i}]"
        if v.name and v.name in first:
            out.add(
                f"{path}.name", f'duplicate vertex name "{v.name}" (first at spec.vertices[{first[v.name]}])'
            )
        elif v.name:
            first[v.name] = i
        check_vertex(v, path, out)
        if name_ok and v.name and dns1035_problem(v.name) is None:
            headless = naming.headless_service_name(naming.vertex_cr_name(pl.name, v.name))
            if len(headless) > DNS1035_MAX_LENGTH:
                out.add(
                    f"{path}.name",
                    f'the headless service name "{headless}" is {len(headless)} characters long, at most '
                    f"{DNS1035_MAX_LENGTH} are allowed; shorten the pipeline or vertex name",
                )


def _check_kinds(pl: Pipeline, out: Report) -> None:
    if not pl.vertices:
        return
    if not pl.sources():
        out.add("spec.vertices", "a pipeline needs at least one source vertex")
    if not pl.sinks():
        out.add("spec.vertices", "a pipeline needs at least one sink vertex")
    serving = next((v for v in pl.vertices if v.source is not None and v.source.serving is not None), None)
    for i, v in enumerate(pl.vertices):
        if v.sink is not None and v.sink.serve is not None:
            out.add(
                f"spec.vertices[{i}].sink.serve",
                f'vertex "{v.get_name()}": the builtin "serve" sink is only allowed in a ServingPipeline',
            )
        if serving is not None and v.is_reduce_udf():
            out.add(
                f"spec.vertices[{i}].udf.groupBy",
                f'reduce vertex "{v.get_name()}" is not supported with '
                f'the serving source "{serving.get_name()}"',
            )


def _check_side_inputs(pl: Pipeline, out: Report) -> None:
    declared: dict[str, int] = {}
    for k, si in enumerate(pl.spec.side_inputs or []):
        path = f"spec.sideInputs[{k}]"
        if not si.name:
            out.add(f"{path}.name", "a side input needs a name")
        elif si.name in declared:
            out.add(
                f"{path}.name",
                f'side input "{si.name}" is declared more than once '
                f"(first at spec.sideInputs[{declared[si.name]}])",
            )
        else:
            declared[si.name] = k
            if (problem := dns1035_problem(si.name)) is not None:
                out.add(f"{path}.name", f"invalid side input name: {problem}")
        check_image(si.container, path, f'side input "{si.name or ""}"', out)
        if si.trigger is None:
            out.add(f"{path}.trigger", f'side input "{si.name or ""}" needs a trigger with a schedule')
        elif not si.trigger.schedule:
            out.add(f"{path}.trigger.schedule", f'side input "{si.name or ""}" needs a trigger schedule')
    for i, v in enumerate(pl.vertices):
        used: set[str] = set()
        for m, name in enumerate(v.side_inputs or []):
            path = f"spec.vertices[{i}].sideInputs[{m}]"
            if name not in declared:
                out.add(path, f'side input "{name}" is not declared in spec.sideInputs')
            elif name in used:
                out.add(path, f'side input "{name}" is listed more than once')
            used.add(name)


def _check_idle_source(pl: Pipeline, out: Report) -> None:
    idle = pl.spec.watermark.idle_source if pl.spec.watermark is not None else None
    if idle is None:
        return
    path = "spec.watermark.idleSource"
    threshold, increment = seconds(idle.threshold), seconds(idle.increment_by)
    delay = seconds(idle.init_source_delay)
    if threshold is None:
        out.add(f"{path}.threshold", "threshold is required for an idle source")
    elif threshold <= 0:
        out.add(f"{path}.threshold", f"threshold {idle.threshold!r} must be greater than 0")
    if increment is None:
        out.add(f"{path}.incrementBy", "incrementBy is required for an idle source")
    elif increment <= 0:
        out.add(f"{path}.incrementBy", f"incrementBy {idle.increment_by!r} must be greater than 0")
    if threshold and increment and threshold > 0 and increment > 0 and threshold < increment:
        out.add(
            f"{path}.threshold",
            f"threshold {idle.threshold!r} must be greater than or equal to "
            f"incrementBy {idle.increment_by!r}",
        )
    if delay is not None:
        if delay <= 0:
            out.add(
                f"{path}.initSourceDelay",
                f"initSourceDelay {idle.init_source_delay!r} must be greater than 0",
            )
        elif threshold is not None and threshold > 0 and delay < threshold:
            out.add(
                f"{path}.initSourceDelay",
                f"initSourceDelay {idle.init_source_delay!r} must be greater than or equal to "
                f"threshold {idle.threshold!r}",
            )


def _check_ordered(pl: Pipeline, out: Report) -> None:
    """Ordered map/sink vertices run one replica per partition, so min/max may not be set."""
    pipeline_ordered = bool(pl.spec.ordered is not None and pl.spec.ordered.enabled)
    for i, v in enumerate(pl.vertices):
        if not (v.is_map_udf() or v.is_sink()):
            continue
        enabled = bool(v.ordered.enabled) if v.ordered is not None else pipeline_ordered
        if not enabled or v.scale is None:
            continue
        for field, value in (("min", v.scale.min), ("max", v.scale.max)):
            if value is not None:
                out.add(
                    f"spec.vertices[{i}].scale.{field}",
                    f'vertex "{v.get_name()}": scale.{field} must not be set when ordered processing is '
                    "enabled (replicas are fixed to the partition count)",
                )


def validate_pipeline(pl: Pipeline) -> list[FieldError]:
    """All rule violations of ``pl`` in a stable order (metadata, vertices, edges, graph, the rest)."""
    out = Report()
    name_ok = check_object_name(pl.metadata, "pipeline", out)
    if not pl.vertices:
        out.add("spec.vertices", "a pipeline needs at least one vertex")
    if not pl.edges:
        out.add("spec.edges", "a pipeline needs at least one edge")
    _check_vertices(pl, name_ok, out)
    _check_kinds(pl, out)
    edges = check_edges(pl, out)
    check_vertex_roles(pl, out)
    check_connected(pl, edges, out)
    check_reduce_after_cycle(pl, edges, out)
    check_limits(pl.spec.limits, "spec.limits", out)
    _check_side_inputs(pl, out)
    _check_idle_source(pl, out)
    _check_ordered(pl, out)
    return out.errors
