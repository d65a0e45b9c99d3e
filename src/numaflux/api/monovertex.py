"""The MonoVertex kind: source → (map) → sink in one pod, no inter-step buffer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api import naming
from numaflux.api._base import NumaModel
from numaflux.api.container import AbstractPodTemplate, ContainerTemplate
from numaflux.api.lifecycle import VertexLifecycle
from numaflux.api.limits import MonoVertexLimits
from numaflux.api.meta import ObjectMeta, ObjectNames
from numaflux.api.scale import Scale
from numaflux.api.sink import Sink
from numaflux.api.source import Source
from numaflux.api.status import Status
from numaflux.api.templates import DaemonTemplate
from numaflux.api.udf import UDF
from numaflux.api.update_strategy import UpdateStrategy


class MonoVertexBypass(NumaModel):
    """Conditional routing straight to the sink/fallback/onSuccess (``spec.bypass``)."""

    sink: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    on_success: dict[str, Any] | None = None


class MonoVertexSpec(AbstractPodTemplate):
    replicas: int | None = None
    source: Source | None = None
    sink: Sink | None = None
    udf: UDF | None = None
    container_template: ContainerTemplate | None = None
    volumes: list[dict[str, Any]] | None = None
    limits: MonoVertexLimits | None = None
    scale: Scale | None = None
    init_containers: list[dict[str, Any]] | None = None
    sidecars: list[dict[str, Any]] | None = None
    daemon_template: DaemonTemplate | None = None
    update_strategy: UpdateStrategy | None = None
    lifecycle: VertexLifecycle | None = None
    bypass: MonoVertexBypass | None = None
    streaming: bool | None = None

    def get_scale(self) -> Scale:
        return self.scale or Scale()

    def get_limits(self) -> MonoVertexLimits:
        return self.limits or MonoVertexLimits()

    def get_lifecycle(self) -> VertexLifecycle:
        return self.lifecycle or VertexLifecycle()

    def get_update_strategy(self) -> UpdateStrategy:
        return self.update_strategy or UpdateStrategy()

    def is_streaming(self) -> bool:
        return bool(self.streaming)


class MonoVertexStatus(Status):
    phase: str | None = None
    replicas: int | None = None
    desired_replicas: int | None = None
    selector: str | None = None
    reason: str | None = None
    message: str | None = None
    last_updated: str | None = None
    last_scaled_at: str | None = None
    observed_generation: int | None = None
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    updated_ready_replicas: int | None = None
    current_hash: str | None = None
    update_hash: str | None = None

    def init_conditions(self, now: datetime) -> None:
        self.init_condition_types(
            (
                c.MONO_VERTEX_CONDITION_DEPLOYED,
                c.MONO_VERTEX_CONDITION_DAEMON_HEALTHY,
                c.MONO_VERTEX_CONDITION_PODS_HEALTHY,
            ),
            now,
        )

    def mark_phase(self, phase: c.MonoVertexPhase, reason: str = "", message: str = "") -> None:
        self.phase = phase.value
        self.reason = reason
        self.message = message

    def mark_phase_running(self) -> None:
        self.mark_phase(c.MonoVertexPhase.RUNNING)

    def mark_phase_paused(self) -> None:
        self.mark_phase(c.MonoVertexPhase.PAUSED)

    def mark_phase_failed(self, reason: str, message: str) -> None:
        self.mark_phase(c.MonoVertexPhase.FAILED, reason, message)

    def mark_deployed(self, now: datetime) -> None:
        self.mark_true(c.MONO_VERTEX_CONDITION_DEPLOYED, now)

    def mark_deploy_failed(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.MONO_VERTEX_CONDITION_DEPLOYED, reason, message, now)
        self.mark_phase_failed(reason, message)

    def mark_daemon_healthy(self, now: datetime) -> None:
        self.mark_true(c.MONO_VERTEX_CONDITION_DAEMON_HEALTHY, now)

    def mark_daemon_unhealthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.MONO_VERTEX_CONDITION_DAEMON_HEALTHY, reason, message, now)
        self.reason = reason
        self.message = "Degraded: " + message

    def mark_pods_healthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_true_with_reason(c.MONO_VERTEX_CONDITION_PODS_HEALTHY, reason, message, now)

    def mark_pod_not_healthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.MONO_VERTEX_CONDITION_PODS_HEALTHY, reason, message, now)
        self.reason = reason
        self.message = "Degraded: " + message

    def is_healthy(self) -> bool:
        if self.phase not in (c.MonoVertexPhase.RUNNING.value, c.MonoVertexPhase.PAUSED.value):
            return False
        return self.is_ready()


class MonoVertex(ObjectNames, NumaModel):
    api_version: Literal["numaflow.numaproj.io/v1alpha1"] = "numaflow.numaproj.io/v1alpha1"
    kind: Literal["MonoVertex"] = "MonoVertex"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MonoVertexSpec
    status: MonoVertexStatus | None = None

    def get_status(self) -> MonoVertexStatus:
        if self.status is None:
            self.status = MonoVertexStatus()
        return self.status

    def calculate_replicas(self) -> int:
        """0 when paused; else spec.replicas (nil → 1) clamped to [min, max] unless scaling is disabled."""
        if self.spec.get_lifecycle().is_paused():
            return 0
        replicas = 1 if self.spec.replicas is None else self.spec.replicas
        return self.spec.get_scale().clamp(replicas)

    def scalable(self) -> bool:
        return not self.spec.get_scale().is_disabled()

    def get_selector(self) -> str:
        return f"{c.KEY_MONO_VERTEX_NAME}={self.name}"

    def headless_service_name(self) -> str:
        return naming.mono_vertex_headless_service_name(self.name)

    def daemon_deployment_name(self) -> str:
        return naming.mono_vertex_daemon_deployment_name(self.name)

    def daemon_service_name(self) -> str:
        return naming.mono_vertex_daemon_service_name(self.name)
