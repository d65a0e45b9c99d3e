"""AbstractVertex (an element of ``pipeline.spec.vertices``) and the Vertex kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api import naming
from numaflux.api._base import NumaModel
from numaflux.api.container import AbstractPodTemplate, Container, ContainerTemplate
from numaflux.api.edge import CombinedEdge
from numaflux.api.lifecycle import VertexLifecycle
from numaflux.api.limits import VertexLimits
from numaflux.api.meta import ObjectMeta, ObjectNames
from numaflux.api.scale import Scale
from numaflux.api.sink import Sink
from numaflux.api.source import Source
from numaflux.api.status import Status
from numaflux.api.udf import UDF
from numaflux.api.update_strategy import UpdateStrategy
from numaflux.api.watermark import Watermark


class Compression(NumaModel):
    type: str | None = None  # None | GZIP | ZSTD | LZ4 (case-insensitive in the data plane)

    def get_type(self) -> str:
        return self.type or "None"


class InterStepBuffer(NumaModel):
    compression: Compression | None = None


class Ordered(NumaModel):
    enabled: bool | None = None


class AbstractVertex(AbstractPodTemplate):
    name: str | None = None
    source: Source | None = None
    sink: Sink | None = None
    udf: UDF | None = None
    container_template: ContainerTemplate | None = None
    init_container_template: ContainerTemplate | None = None
    volumes: list[dict[str, Any]] | None = None
    limits: VertexLimits | None = None
    scale: Scale | None = None
    init_containers: list[dict[str, Any]] | None = None
    sidecars: list[dict[str, Any]] | None = None
    partitions: int | None = None
    side_inputs: list[str] | None = None
    side_inputs_container_template: ContainerTemplate | None = None
    update_strategy: UpdateStrategy | None = None
    ordered: Ordered | None = None

    def get_name(self) -> str:
        return self.name or ""

    def is_source(self) -> bool:
        return self.source is not None

    def is_sink(self) -> bool:
        return self.sink is not None

    def is_udf(self) -> bool:
        return self.udf is not None

    def is_map_udf(self) -> bool:
        return self.udf is not None and self.udf.group_by is None

    def is_reduce_udf(self) -> bool:
        return self.udf is not None and self.udf.group_by is not None

    def is_keyed_reduce(self) -> bool:
        return self.udf is not None and self.udf.group_by is not None and self.udf.group_by.is_keyed()

    def is_udsource(self) -> bool:
        return self.source is not None and self.source.udsource is not None

    def has_transformer(self) -> bool:
        return self.source is not None and self.source.transformer is not None

    def is_udsink(self) -> bool:
        return self.sink is not None and self.sink.udsink is not None

    def get_vertex_type(self) -> c.VertexType | None:
        """Source, Sink, MapUDF or ReduceUDF; None for a vertex with none of source/sink/udf."""
        if self.is_source():
            return c.VertexType.SOURCE
        if self.is_sink():
            return c.VertexType.SINK
        if self.is_map_udf():
            return c.VertexType.MAP_UDF
        if self.is_reduce_udf():
            return c.VertexType.REDUCE_UDF
        return None

    def get_scale(self) -> Scale:
        return self.scale or Scale()

    def get_update_strategy(self) -> UpdateStrategy:
        return self.update_strategy or UpdateStrategy()

    def get_partition_count(self) -> int:
        """``partitions`` (nil/<1 → 1); always 1 for sources and non-keyed reduce."""
        if self.partitions is None or self.partitions < 1:
            return 1
        if self.is_source() or (self.is_reduce_udf() and not self.is_keyed_reduce()):
            return 1
        return self.partitions

    def owned_buffer_names(self, namespace: str, pipeline: str) -> list[str]:
        """Buffers this vertex reads from (none for sources)."""
        if self.is_source():
            return []
        return [
            naming.buffer_name(namespace, pipeline, self.get_name(), i)
            for i in range(self.get_partition_count())
        ]

    def user_containers(self) -> list[Container]:
        """The user containers this vertex runs (UDF, UD source, transformer, UD sinks)."""
        out: list[Container] = []
        if self.udf is not None and self.udf.container is not None:
            out.append(self.udf.container)
        if self.source is not None:
            for part in (self.source.udsource, self.source.transformer):
                if part is not None and part.container is not None:
                    out.append(part.container)
        if self.sink is not None:
            for abstract in (self.sink, self.sink.fallback, self.sink.on_success):
                if abstract is not None and abstract.udsink is not None and abstract.udsink.container:
                    out.append(abstract.udsink.container)
        return out


class VertexSpec(AbstractVertex):
    pipeline_name: str | None = None
    inter_step_buffer_service_name: str | None = None
    replicas: int | None = None
    from_edges: list[CombinedEdge] | None = None
    to_edges: list[CombinedEdge] | None = None
    watermark: Watermark | None = None
    lifecycle: VertexLifecycle | None = None
    inter_step_buffer: InterStepBuffer | None = None

    def get_lifecycle(self) -> VertexLifecycle:
        return self.lifecycle or VertexLifecycle()

    def get_watermark(self) -> Watermark:
        return self.watermark or Watermark()

    def get_limits(self) -> VertexLimits:
        return self.limits or VertexLimits()

    def get_isb_service_name(self) -> str:
        return self.inter_step_buffer_service_name or c.DEFAULT_ISB_SERVICE_NAME


class VertexStatus(Status):
    phase: str | None = None
    replicas: int | None = None
    desired_replicas: int | None = None
    selector: str | None = None
    reason: str | None = None
    message: str | None = None
    last_scaled_at: str | None = None
    observed_generation: int | None = None
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    updated_ready_replicas: int | None = None
    current_hash: str | None = None
    update_hash: str | None = None

    def init_conditions(self, now: datetime) -> None:
        self.init_condition_types((c.VERTEX_CONDITION_DEPLOYED, c.VERTEX_CONDITION_PODS_HEALTHY), now)

    def mark_deployed(self, now: datetime) -> None:
        self.mark_true(c.VERTEX_CONDITION_DEPLOYED, now)

    def mark_deploy_failed(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.VERTEX_CONDITION_DEPLOYED, reason, message, now)
        self.mark_phase_failed(reason, message)

    def mark_pods_healthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_true_with_reason(c.VERTEX_CONDITION_PODS_HEALTHY, reason, message, now)

    def mark_pod_not_healthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.VERTEX_CONDITION_PODS_HEALTHY, reason, message, now)
        self.reason = reason
        self.message = "Degraded: " + message

    def mark_phase(self, phase: c.VertexPhase, reason: str = "", message: str = "") -> None:
        self.phase = phase.value
        self.reason = reason
        self.message = message

    def mark_phase_running(self) -> None:
        self.mark_phase(c.VertexPhase.RUNNING)

    def mark_phase_paused(self) -> None:
        self.mark_phase(c.VertexPhase.PAUSED)

    def mark_phase_failed(self, reason: str, message: str) -> None:
        self.mark_phase(c.VertexPhase.FAILED, reason, message)

    def is_healthy(self) -> bool:
        """Running or Paused, and every condition True."""
        if self.phase not in (c.VertexPhase.RUNNING.value, c.VertexPhase.PAUSED.value):
            return False
        return self.is_ready()


class Vertex(ObjectNames, NumaModel):
    api_version: Literal["numaflow.numaproj.io/v1alpha1"] = "numaflow.numaproj.io/v1alpha1"
    kind: Literal["Vertex"] = "Vertex"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: VertexSpec
    status: VertexStatus | None = None

    def get_status(self) -> VertexStatus:
        if self.status is None:
            self.status = VertexStatus()
        return self.status

    def is_source(self) -> bool:
        return self.spec.is_source()

    def is_sink(self) -> bool:
        return self.spec.is_sink()

    def is_map_udf(self) -> bool:
        return self.spec.is_map_udf()

    def is_reduce_udf(self) -> bool:
        return self.spec.is_reduce_udf()

    def get_vertex_type(self) -> c.VertexType | None:
        return self.spec.get_vertex_type()

    def get_partition_count(self) -> int:
        return self.spec.get_partition_count()

    def _base_replicas(self) -> int:
        if self.spec.is_reduce_udf():
            return self.spec.get_partition_count()
        return 1 if self.spec.replicas is None else self.spec.replicas

    def calculate_replicas(self) -> int:
        """Desired pods: 0 when paused; partitions for reduce, else replicas (nil → 1); clamped to
        [min, max] unless scaling is disabled. Reads nothing but this vertex."""
        if self.spec.get_lifecycle().is_paused():
            return 0
        return self.spec.get_scale().clamp(self._base_replicas())

    def scalable(self) -> bool:
        """Whether the autoscaler may touch it: not disabled, not reduce."""
        if self.spec.get_scale().is_disabled() or self.spec.is_reduce_udf():
            return False
        return self.spec.is_sink() or self.spec.is_map_udf() or self.spec.is_source()

    def owned_buffer_names(self) -> list[str]:
        return self.spec.owned_buffer_names(self.namespace, self.spec.pipeline_name or "")

    def get_headless_service_name(self) -> str:
        return naming.headless_service_name(self.name)

    def get_selector(self) -> str:
        """Label selector of this vertex's pods (``status.selector``)."""
        pipeline = self.spec.pipeline_name or ""
        return f"{c.KEY_PIPELINE_NAME}={pipeline},{c.KEY_VERTEX_NAME}={self.spec.get_name()}"

    def get_from_buffers(self) -> list[str]:
        return self.owned_buffer_names()

    def get_to_buffers(self) -> list[str]:
        """Buffers this vertex writes to: every partition of each to-edge's target."""
        out: list[str] = []
        for e in self.spec.to_edges or []:
            for i in range(e.get_to_vertex_partitions()):
                out.append(naming.buffer_name(self.namespace, self.spec.pipeline_name or "", e.get_to(), i))
        return out
