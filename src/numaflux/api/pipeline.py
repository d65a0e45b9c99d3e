"""The Pipeline kind: spec, status and graph helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api import naming
from numaflux.api._base import NumaModel
from numaflux.api.edge import Edge
from numaflux.api.lifecycle import Lifecycle
from numaflux.api.limits import PipelineLimits, VertexLimits, merge_limits
from numaflux.api.meta import ObjectMeta, ObjectNames
from numaflux.api.side_inputs import SideInput
from numaflux.api.status import Status
from numaflux.api.templates import Templates
from numaflux.api.vertex import AbstractVertex, InterStepBuffer, Ordered
from numaflux.api.watermark import Watermark


@dataclass(frozen=True)
class VertexCounts:
    vertices: int
    sources: int
    sinks: int
    map_udfs: int
    reduce_udfs: int

    @property
    def udfs(self) -> int:
        return self.map_udfs + self.reduce_udfs


class PipelineSpec(NumaModel):
    inter_step_buffer_service_name: str | None = None
    vertices: list[AbstractVertex] | None = None
    edges: list[Edge] | None = None
    lifecycle: Lifecycle | None = None
    limits: PipelineLimits | None = None
    watermark: Watermark | None = None
    templates: Templates | None = None
    side_inputs: list[SideInput] | None = None
    inter_step_buffer: InterStepBuffer | None = None
    ordered: Ordered | None = None


class PipelineStatus(Status):
    phase: str | None = None
    message: str | None = None
    last_updated: str | None = None
    vertex_count: int | None = None
    source_count: int | None = None
    sink_count: int | None = None
    udf_count: int | None = None
    map_udf_count: int | None = Field(default=None, alias="mapUDFCount")
    reduce_udf_count: int | None = Field(default=None, alias="reduceUDFCount")
    observed_generation: int | None = None
    drained_on_pause: bool | None = None

    def init_conditions(self, now: datetime) -> None:
        self.init_condition_types(
            (
                c.PIPELINE_CONDITION_CONFIGURED,
                c.PIPELINE_CONDITION_DEPLOYED,
                c.PIPELINE_CONDITION_DAEMON_SERVICE_HEALTHY,
                c.PIPELINE_CONDITION_SIDE_INPUTS_MANAGERS_HEALTHY,
                c.PIPELINE_CONDITION_VERTICES_HEALTHY,
            ),
            now,
        )

    def set_phase(self, phase: c.PipelinePhase, message: str) -> None:
        self.phase = phase.value
        self.message = message

    def set_vertex_counts(self, counts: VertexCounts) -> None:
        self.vertex_count = counts.vertices
        self.source_count = counts.sources
        self.sink_count = counts.sinks
        self.udf_count = counts.udfs
        self.map_udf_count = counts.map_udfs
        self.reduce_udf_count = counts.reduce_udfs

    def mark_configured(self, now: datetime) -> None:
        self.mark_true(c.PIPELINE_CONDITION_CONFIGURED, now)

    def mark_not_configured(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.PIPELINE_CONDITION_CONFIGURED, reason, message, now)
        self.set_phase(c.PipelinePhase.FAILED, message)

    def mark_deployed(self, now: datetime) -> None:
        self.mark_true(c.PIPELINE_CONDITION_DEPLOYED, now)

    def mark_deploy_failed(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.PIPELINE_CONDITION_DEPLOYED, reason, message, now)
        self.set_phase(c.PipelinePhase.FAILED, message)

    def mark_daemon_service_healthy(self, now: datetime) -> None:
        self.mark_true(c.PIPELINE_CONDITION_DAEMON_SERVICE_HEALTHY, now)

    def mark_daemon_service_unhealthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.PIPELINE_CONDITION_DAEMON_SERVICE_HEALTHY, reason, message, now)
        self.message = "Degraded: " + message

    def mark_side_inputs_managers_healthy(self, now: datetime) -> None:
        self.mark_true(c.PIPELINE_CONDITION_SIDE_INPUTS_MANAGERS_HEALTHY, now)

    def mark_side_inputs_managers_unhealthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.PIPELINE_CONDITION_SIDE_INPUTS_MANAGERS_HEALTHY, reason, message, now)
        self.message = "Degraded: " + message

    def mark_vertices_healthy(self, now: datetime) -> None:
        self.mark_true(c.PIPELINE_CONDITION_VERTICES_HEALTHY, now)

    def mark_vertices_unhealthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.PIPELINE_CONDITION_VERTICES_HEALTHY, reason, message, now)
        self.message = "Degraded: " + message

    def mark_phase_running(self) -> None:
        self.set_phase(c.PipelinePhase.RUNNING, "")

    def mark_phase_paused(self) -> None:
        self.set_phase(c.PipelinePhase.PAUSED, "Pipeline paused")

    def mark_phase_pausing(self) -> None:
        self.set_phase(c.PipelinePhase.PAUSING, "Pausing in progress")

    def mark_phase_deleting(self) -> None:
        self.set_phase(c.PipelinePhase.DELETING, "Deleting in progress")

    def mark_phase_failed(self, message: str) -> None:
        self.set_phase(c.PipelinePhase.FAILED, message)

    def is_healthy(self) -> bool:
        """Failed/"" → False; Running/Paused → all conditions True; Pausing/Deleting → True."""
        if self.phase in (c.PipelinePhase.RUNNING.value, c.PipelinePhase.PAUSED.value):
            return self.is_ready()
        return self.phase in (c.PipelinePhase.PAUSING.value, c.PipelinePhase.DELETING.value)


class Pipeline(ObjectNames, NumaModel):
    api_version: Literal["numaflow.numaproj.io/v1alpha1"] = "numaflow.numaproj.io/v1alpha1"
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec
    status: PipelineStatus | None = None

    def get_status(self) -> PipelineStatus:
        if self.status is None:
            self.status = PipelineStatus()
        return self.status

    # --- vertices and edges ---------------------------------------------------------------------------
    @property
    def vertices(self) -> list[AbstractVertex]:
        return self.spec.vertices or []

    @property
    def edges(self) -> list[Edge]:
        return self.spec.edges or []

    def get_vertex(self, name: str) -> AbstractVertex | None:
        for v in self.vertices:
            if v.name == name:
                return v
        return None

    def sources(self) -> list[AbstractVertex]:
        return [v for v in self.vertices if v.is_source()]

    def sinks(self) -> list[AbstractVertex]:
        return [v for v in self.vertices if v.is_sink()]

    def udfs(self) -> list[AbstractVertex]:
        return [v for v in self.vertices if v.is_udf()]

    def map_udfs(self) -> list[AbstractVertex]:
        return [v for v in self.vertices if v.is_map_udf()]

    def reduce_udfs(self) -> list[AbstractVertex]:
        return [v for v in self.vertices if v.is_reduce_udf()]

    def edges_from(self, vertex: str) -> list[Edge]:
        return [e for e in self.edges if e.from_ == vertex]

    def edges_to(self, vertex: str) -> list[Edge]:
        return [e for e in self.edges if e.to == vertex]

    def downstream_edges(self, vertex: str) -> list[Edge]:
        """All edges reachable from ``vertex`` (depth first, each edge once; cycles are safe)."""
        out: list[Edge] = []
        seen: set[tuple[str | None, str | None]] = set()

        def visit(name: str) -> None:
            for e in self.edges_from(name):
                key = (e.from_, e.to)
                if key in seen:
                    continue
                seen.add(key)
                out.append(e)
                visit(e.get_to())

        visit(vertex)
        return out

    def vertex_counts(self) -> VertexCounts:
        return VertexCounts(
            vertices=len(self.vertices),
            sources=len(self.sources()),
            sinks=len(self.sinks()),
            map_udfs=len(self.map_udfs()),
            reduce_udfs=len(self.reduce_udfs()),
        )

    # --- defaults ------------------------------------------------------------------------------------
    def get_isb_service_name(self) -> str:
        return self.spec.inter_step_buffer_service_name or c.DEFAULT_ISB_SERVICE_NAME

    def get_lifecycle(self) -> Lifecycle:
        return self.spec.lifecycle or Lifecycle()

    def get_desired_phase(self) -> str:
        return self.get_lifecycle().get_desired_phase()

    def get_pause_grace_period_seconds(self) -> int:
        return self.get_lifecycle().get_pause_grace_period_seconds()

    def get_termination_grace_period_seconds(self) -> int:
        return self.get_lifecycle().get_termination_grace_period_seconds(
            self.metadata.deletion_grace_period_seconds
        )

    def get_watermark(self) -> Watermark:
        return self.spec.watermark or Watermark()

    def get_pipeline_limits(self) -> PipelineLimits:
        """Pipeline limits with NumaFlow's defaults filled in."""
        return (self.spec.limits or PipelineLimits()).with_defaults()

    def get_vertex_limits(self, vertex: str) -> VertexLimits:
        """A vertex's limits merged over the pipeline's."""
        v = self.get_vertex(vertex)
        return merge_limits(self.spec.limits, v.limits if v else None)

    # --- names -----------------------------------------------------------------------------------------
    def vertex_cr_name(self, vertex: str) -> str:
        return naming.vertex_cr_name(self.name, vertex)

    def all_buffers(self) -> list[str]:
        out: list[str] = []
        for v in self.vertices:
            out.extend(v.owned_buffer_names(self.namespace, self.name))
        return out

    def all_buckets(self) -> list[str]:
        """Edge buckets, then ``_SOURCE`` and ``_SINK`` buckets."""
        ns, pl = self.namespace, self.name
        out = [naming.edge_bucket_name(ns, pl, e.get_from(), e.get_to()) for e in self.edges]
        out += [naming.source_bucket_name(ns, pl, v.get_name()) for v in self.sources()]
        out += [naming.sink_bucket_name(ns, pl, v.get_name()) for v in self.sinks()]
        return out

    def daemon_deployment_name(self) -> str:
        return naming.daemon_deployment_name(self.name)

    def daemon_service_name(self) -> str:
        return naming.daemon_service_name(self.name)

    def side_inputs_manager_deployment_name(self, side_input: str) -> str:
        return naming.side_inputs_manager_deployment_name(self.name, side_input)

    def side_inputs_store_name(self) -> str:
        return naming.side_inputs_store_name(self.namespace, self.name)
