"""Rules for one vertex of a pipeline (``spec.vertices[i]``) or the spec of a Vertex object."""

from __future__ import annotations

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
from numaflux.api.validation.names import dns1035_problem
from numaflux.api.vertex import AbstractVertex


def vertex_kinds(v: AbstractVertex) -> list[str]:
    """Which of source / sink / udf are set."""
    return [k for k, value in (("source", v.source), ("sink", v.sink), ("udf", v.udf)) if value is not None]


def check_vertex(v: AbstractVertex, path: str, out: Report) -> None:
    """Everything about a vertex that does not depend on the rest of the pipeline."""
    label = f'vertex "{v.get_name()}"'
    if not v.name:
        out.add(f"{path}.name", "a vertex needs a name")
    elif (problem := dns1035_problem(v.name)) is not None:
        out.add(f"{path}.name", f"invalid vertex name: {problem}")
    kinds = vertex_kinds(v)
    if not kinds:
        out.add(path, f"{label} must be exactly one of source, sink or udf, found none")
    elif len(kinds) > 1:
        out.add(path, f"{label} must be exactly one of source, sink or udf, found {' and '.join(kinds)}")

    scale = v.scale
    check_scale_bounds(scale, f"{path}.scale", out)
    if scale is not None and scale.cron is not None:
        if v.is_source():
            check_cron(scale, f"{path}.scale", out)
        else:
            out.add(f"{path}.scale.cron", f"{label}: cron autoscaling is only supported for source vertices")

    if v.partitions is not None:
        if v.partitions < 0:
            out.add(f"{path}.partitions", f"partitions {v.partitions} is negative")
        elif v.partitions > 1 and v.is_source():
            out.add(
                f"{path}.partitions", f"partitions {v.partitions}: a source vertex has at most 1 partition"
            )
        elif v.partitions > 1 and v.is_reduce_udf() and not v.is_keyed_reduce():
            out.add(
                f"{path}.partitions",
                f"partitions {v.partitions}: a non-keyed reduce vertex has at most 1 partition",
            )

    check_update_strategy(v.update_strategy, f"{path}.updateStrategy", out)
    check_extra_containers(v.init_containers, v.sidecars, path, out)
    if v.sidecars and v.is_source():
        out.add(f"{path}.sidecars", f"{label}: sidecars are not supported on source vertices")
    check_limits(v.limits, f"{path}.limits", out)

    if v.source is not None:
        check_source(v.source, f"{path}.source", out)
    if v.sink is not None:
        check_sink(v.sink, f"{path}.sink", out)
    if v.udf is not None:
        check_udf(v.udf, f"{path}.udf", out)
