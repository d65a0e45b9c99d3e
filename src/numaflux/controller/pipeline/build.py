"""The Vertex objects a Pipeline wants (NumaFlow's ``buildVertices``), and plans to get there.

numaflux departs from NumaFlow in two places, both about the lifecycle:

- ``spec.replicas`` of a built vertex never depends on the lifecycle. NumaFlow writes ``replicas: 0``
  while a lifecycle change is in progress (a leftover from when pausing meant ``replicas = 0``); since the
  pause lives in ``spec.lifecycle.desiredPhase`` that 0 only hurts: a pipeline created Paused, or a vertex
  added during a pause, would come back from a fast resume at 0 pods.
- An update of an existing vertex keeps its ``spec.lifecycle.desiredPhase`` while a lifecycle transition
  is in progress (desired phase Paused, or the pause-timestamp marker present). NumaFlow overwrote it with
  the pipeline's desired phase, so a spec update during Pausing paused non-sources before the drain and a
  spec update during a pending resume un-paused vertices without the resume (no slow-strategy replica
  removal, no Events) — issue #2057's class of bugs. Outside a transition it is set Running.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from numaflux.api import (
    AbstractVertex,
    CombinedEdge,
    Edge,
    Pipeline,
    Scale,
    Vertex,
    VertexLifecycle,
    VertexLimits,
    VertexSpec,
    naming,
)
from numaflux.api import constants as c
from numaflux.api.meta import ObjectMeta
from numaflux.api.vertex import Ordered
from numaflux.controller.pipeline.workload import controller_ref


def pause_marker(pl: Pipeline) -> str | None:
    """The ``pause-timestamp`` annotation: present = a pause is in progress or not yet resumed."""
    return pl.metadata.annotation(c.KEY_PAUSE_TIMESTAMP) or None


def in_lifecycle_transition(pl: Pipeline) -> bool:
    """Desired Paused, or the pause marker present. Never decided from ``status.phase``."""
    return pl.get_desired_phase() == c.PipelinePhase.PAUSED.value or pause_marker(pl) is not None


def stable_hash(value: Any) -> str:
    """sha256 hex of canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def vertex_hash(spec: VertexSpec) -> str:
    """The ``numaflow.numaproj.io/hash`` annotation: the spec without ``replicas`` and ``lifecycle``, so
    scaling and pause/resume never count as spec changes."""
    doc = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc.pop("replicas", None)
    doc.pop("lifecycle", None)
    return stable_hash(doc)


def owner_reference(pl: Pipeline) -> dict[str, Any]:
    """Controller owner reference to the pipeline."""
    return controller_ref(c.GROUP_VERSION, c.KIND_PIPELINE, pl.name, pl.metadata.uid)


def vertex_labels(pl: Pipeline, vertex: str) -> dict[str, str]:
    return {
        c.KEY_MANAGED_BY: c.MANAGED_BY_PIPELINE_CONTROLLER,
        c.KEY_COMPONENT: c.COMPONENT_VERTEX,
        c.KEY_PART_OF: c.PART_OF_VALUE,
        c.KEY_PIPELINE_NAME: pl.name,
        c.KEY_VERTEX_NAME: vertex,
    }


# --- buildVertices ----------------------------------------------------------------------------------


def _is_zero(value: Any) -> bool:
    return value is None or value == {} or value == []


def _fill_missing(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    """mergo.Merge without override: unset (or empty) fields of ``dst`` take ``src``'s; maps merge."""
    out = dict(dst)
    for key, value in src.items():
        if _is_zero(out.get(key)):
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _fill_missing(out[key], value)
    return out


def _apply_vertex_template(pl: Pipeline, v: AbstractVertex) -> AbstractVertex:
    template = pl.spec.templates.vertex if pl.spec.templates else None
    if template is None:
        return v.model_copy(deep=True)
    merged = _fill_missing(
        v.model_dump(mode="json", by_alias=True, exclude_none=True),
        template.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    return AbstractVertex.model_validate(merged)


def _vertex_type(v: AbstractVertex) -> str | None:
    t = v.get_vertex_type()
    return t.value if t is not None else None


def resolve_ordered(pl: Pipeline, v: AbstractVertex) -> bool:
    """Reduce → False; else the vertex's ``ordered.enabled``, else the pipeline's, else False."""
    if v.is_reduce_udf():
        return False
    if v.ordered is not None and v.ordered.enabled is not None:
        return v.ordered.enabled
    if pl.spec.ordered is not None and pl.spec.ordered.enabled is not None:
        return pl.spec.ordered.enabled
    return False


def _merged_limits(pl: Pipeline, v: AbstractVertex) -> VertexLimits:
    limits = pl.get_vertex_limits(v.get_name())
    if resolve_ordered(pl, v) and (v.is_map_udf() or v.is_sink()):
        limits.concurrency = 1
    return limits


def _combined_edge(pl: Pipeline, e: Edge) -> CombinedEdge:
    frm, to = pl.get_vertex(e.get_from()), pl.get_vertex(e.get_to())
    edge = CombinedEdge.model_validate(e.model_dump(by_alias=True, exclude_none=True))
    if frm is not None:
        edge.from_vertex_type = _vertex_type(frm)
        edge.from_vertex_partition_count = frm.get_partition_count()
        edge.from_vertex_limits = _merged_limits(pl, frm)
    if to is not None:
        edge.to_vertex_type = _vertex_type(to)
        edge.to_vertex_partition_count = to.get_partition_count()
        edge.to_vertex_limits = _merged_limits(pl, to)
        edge.to_vertex_ordered = resolve_ordered(pl, to)
    return edge


def built_replicas(pl: Pipeline, v: AbstractVertex) -> int:
    """§3.4's replicas without its lifecycle clause: reduce → partitions; ordered map/sink → partitions;
    else 1 clamped to [min, max]."""
    if v.is_reduce_udf() or (resolve_ordered(pl, v) and (v.is_map_udf() or v.is_sink())):
        return v.get_partition_count()
    scale = v.get_scale()
    return max(scale.get_min_replicas(), min(1, scale.get_max_replicas()))


def build_vertex(pl: Pipeline, abstract: AbstractVertex) -> Vertex:
    """The Vertex object for one ``spec.vertices[i]``; lifecycle = the pipeline's desired phase."""
    v = _apply_vertex_template(pl, abstract)
    name = v.get_name()
    ordered = resolve_ordered(pl, v)
    replicas = built_replicas(pl, v)
    base = v.model_dump(by_alias=True, exclude_none=True)
    spec = VertexSpec.model_validate(base)
    spec.limits = _merged_limits(pl, v)
    spec.ordered = Ordered(enabled=ordered)
    if ordered and (v.is_map_udf() or v.is_sink()):
        scale = (spec.scale or Scale()).model_copy()
        scale.disabled, scale.min, scale.max = True, replicas, replicas
        spec.scale = scale
    spec.pipeline_name = pl.name
    spec.inter_step_buffer_service_name = pl.spec.inter_step_buffer_service_name
    spec.replicas = replicas
    spec.from_edges = [_combined_edge(pl, e) for e in pl.edges_to(name)] or None
    spec.to_edges = [_combined_edge(pl, e) for e in pl.edges_from(name)] or None
    spec.watermark = pl.spec.watermark.model_copy(deep=True) if pl.spec.watermark else None
    spec.inter_step_buffer = (
        pl.spec.inter_step_buffer.model_copy(deep=True) if pl.spec.inter_step_buffer else None
    )
    spec.lifecycle = VertexLifecycle(desired_phase=pl.get_desired_phase())
    annotations = {c.KEY_HASH: vertex_hash(spec)}
    instance = pl.metadata.annotation(c.KEY_INSTANCE)
    if instance:
        annotations[c.KEY_INSTANCE] = instance
    meta = ObjectMeta(
        name=naming.vertex_cr_name(pl.name, name),
        namespace=pl.metadata.namespace,
        labels=vertex_labels(pl, name),
        annotations=annotations,
        owner_references=[owner_reference(pl)],
    )
    return Vertex(metadata=meta, spec=spec)


def build_vertices(pl: Pipeline) -> list[Vertex]:
    """One Vertex object per ``spec.vertices[i]``, named ``{pipeline}-{vertex}``."""
    return [build_vertex(pl, v) for v in pl.vertices]


# --- create / update / delete plan --------------------------------------------------------------------


@dataclass
class VertexPlan:
    """Vertex objects to create, to replace (full objects, resourceVersion kept) and to delete (names)."""

    creates: list[Vertex] = field(default_factory=list)
    updates: list[Vertex] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def resulting(self, existing: list[Vertex]) -> list[Vertex]:
        """The vertices as they will be once the plan is applied (what the lifecycle should look at)."""
        replaced = {v.name: v for v in self.updates}
        kept = [replaced.get(v.name, v) for v in existing if v.name not in self.deletes]
        return kept + list(self.creates)


def _phase_for_new_vertex(pl: Pipeline, v: Vertex, existing: list[Vertex]) -> str:
    """Desired phase of a vertex created now.

    Desired Running → Running (a pending resume will not need to touch it). Desired Paused → sources
    Paused; others Paused when nothing is running any more (pipeline created Paused, or the pause is
    complete), else Running: a drain is under way and upstream may still write into its buffer.
    """
    running = c.VertexPhase.RUNNING.value
    paused = c.VertexPhase.PAUSED.value
    if pl.get_desired_phase() != c.PipelinePhase.PAUSED.value:
        return running
    if v.is_source():
        return paused
    if any(not e.spec.get_lifecycle().is_paused() for e in existing):
        return running
    return paused


def _updated_replicas(old: Vertex, new: Vertex) -> int | None:
    """NumaFlow's rule: keep the existing ``spec.replicas`` when within the new [min, max], else the
    built value. An unset value stays unset (it means 1 → clamp, e.g. after a slow resume)."""
    original = old.spec.replicas
    if original is None:
        return None
    scale = new.spec.get_scale()
    if scale.get_min_replicas() <= original <= scale.get_max_replicas():
        return original
    return new.spec.replicas


def plan_vertex_updates(pl: Pipeline, existing: list[Vertex]) -> VertexPlan:
    """Compare the built vertices with ``existing`` (the pipeline's Vertex objects).

    Creates carry the phase of ``_phase_for_new_vertex``; an update (hash changed) takes the new spec
    but keeps ``spec.replicas`` per ``_updated_replicas`` and, during a lifecycle transition, the
    existing ``spec.lifecycle``; vertices no longer in the pipeline are deleted.
    """
    plan = VertexPlan()
    by_name = {v.name: v for v in existing}
    transition = in_lifecycle_transition(pl)
    built = build_vertices(pl)
    for new in built:
        old = by_name.get(new.name)
        if old is None:
            new.spec.lifecycle = VertexLifecycle(desired_phase=_phase_for_new_vertex(pl, new, existing))
            plan.creates.append(new)
            continue
        if old.metadata.annotation(c.KEY_HASH) == new.metadata.annotation(c.KEY_HASH):
            continue
        updated = old.model_copy(deep=True)
        updated.spec = new.spec.model_copy(deep=True)
        updated.spec.replicas = _updated_replicas(old, new)
        if transition:
            updated.spec.lifecycle = VertexLifecycle(
                desired_phase=old.spec.get_lifecycle().get_desired_phase()
            )
        else:
            updated.spec.lifecycle = VertexLifecycle(desired_phase=c.VertexPhase.RUNNING.value)
        updated.metadata.labels = {**(old.metadata.labels or {}), **(new.metadata.labels or {})}
        updated.metadata.annotations = {
            **(old.metadata.annotations or {}),
            **(new.metadata.annotations or {}),
        }
        updated.metadata.owner_references = new.metadata.owner_references
        plan.updates.append(updated)
    wanted = {v.name for v in built}
    plan.deletes = sorted(v.name for v in existing if v.name not in wanted)
    return plan


# --- ISB buffers and buckets ------------------------------------------------------------------------


@dataclass
class IsbPlan:
    """Buffers/buckets to ensure (all current ones, idempotently) and to delete (dropped from the
    topology); ``side_inputs_store`` is the store to ensure when the pipeline has side inputs."""

    buffers: list[str]
    buckets: list[str]
    delete_buffers: list[str]
    delete_buckets: list[str]
    side_inputs_store: str | None = None


def vertex_buckets(v: Vertex) -> list[str]:
    """Buckets a Vertex object reads and writes: ``_SOURCE`` or from-edge buckets, ``_SINK`` or to-edge
    buckets."""
    ns, pl = v.namespace, v.spec.pipeline_name or ""
    name = v.spec.get_name()
    out: list[str] = []
    if v.is_source():
        out.append(naming.source_bucket_name(ns, pl, name))
    else:
        out += [naming.edge_bucket_name(ns, pl, e.get_from(), e.get_to()) for e in v.spec.from_edges or []]
    if v.is_sink():
        out.append(naming.sink_bucket_name(ns, pl, name))
    else:
        out += [naming.edge_bucket_name(ns, pl, e.get_from(), e.get_to()) for e in v.spec.to_edges or []]
    return out


def plan_isb_resources(pl: Pipeline, existing: list[Vertex]) -> IsbPlan:
    """What the ISB layer must hold for ``pl``, and what the existing Vertex objects used that is gone."""
    buffers, buckets = pl.all_buffers(), pl.all_buckets()
    old_buffers: set[str] = set()
    old_buckets: set[str] = set()
    for v in existing:
        old_buffers.update(v.owned_buffer_names())
        old_buckets.update(vertex_buckets(v))
    return IsbPlan(
        buffers=buffers,
        buckets=buckets,
        delete_buffers=sorted(old_buffers - set(buffers)),
        delete_buckets=sorted(old_buckets - set(buckets)),
        side_inputs_store=pl.side_inputs_store_name() if pl.spec.side_inputs else None,
    )
