"""The InterStepBufferService kind (JetStream only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api import naming
from numaflux.api._base import NumaModel
from numaflux.api.container import AbstractPodTemplate, ContainerTemplate
from numaflux.api.meta import ObjectMeta, ObjectNames
from numaflux.api.status import Status
from numaflux.api.udf import PersistenceStrategy


class JetStreamBufferService(AbstractPodTemplate):
    version: str | None = None
    replicas: int | None = None
    container_template: ContainerTemplate | None = None
    reloader_container_template: ContainerTemplate | None = None
    metrics_container_template: ContainerTemplate | None = None
    persistence: PersistenceStrategy | None = None
    settings: str | None = None  # nats server config overrides (text)
    start_args: list[str] | None = None
    buffer_config: str | None = None  # YAML text: stream / consumer / otBucket / procBucket
    encryption: bool | None = None
    tls: bool | None = None

    def get_replicas(self) -> int:
        """nil → 3, and 2 → 3 (a 2-node JetStream cluster has no quorum)."""
        if self.replicas is None or self.replicas == 2:
            return c.DEFAULT_JETSTREAM_REPLICAS
        return self.replicas


class InterStepBufferServiceSpec(NumaModel):
    jetstream: JetStreamBufferService | None = None


class JetStreamConfig(NumaModel):
    url: str | None = None
    auth: dict[str, Any] | None = None
    stream_config: str | None = None
    tls_enabled: bool | None = None


class BufferServiceConfig(NumaModel):
    jetstream: JetStreamConfig | None = None


class InterStepBufferServiceStatus(Status):
    phase: str | None = None
    message: str | None = None
    config: BufferServiceConfig | None = None
    type: str | None = None
    observed_generation: int | None = None

    def init_conditions(self, now: datetime) -> None:
        self.init_condition_types(
            (
                c.ISB_SERVICE_CONDITION_CONFIGURED,
                c.ISB_SERVICE_CONDITION_DEPLOYED,
                c.ISB_SERVICE_CONDITION_CHILDREN_HEALTHY,
            ),
            now,
        )
        self.phase = c.ISBServicePhase.PENDING.value

    def mark_configured(self, now: datetime) -> None:
        self.mark_true(c.ISB_SERVICE_CONDITION_CONFIGURED, now)

    def mark_not_configured(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.ISB_SERVICE_CONDITION_CONFIGURED, reason, message, now)
        self.phase = c.ISBServicePhase.FAILED.value
        self.message = message

    def mark_deployed(self, now: datetime) -> None:
        self.mark_true(c.ISB_SERVICE_CONDITION_DEPLOYED, now)
        self.phase = c.ISBServicePhase.RUNNING.value

    def mark_deploy_failed(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.ISB_SERVICE_CONDITION_DEPLOYED, reason, message, now)
        self.phase = c.ISBServicePhase.FAILED.value
        self.message = message

    def mark_children_healthy(self, now: datetime) -> None:
        self.mark_true(c.ISB_SERVICE_CONDITION_CHILDREN_HEALTHY, now)

    def mark_children_unhealthy(self, reason: str, message: str, now: datetime) -> None:
        self.mark_false(c.ISB_SERVICE_CONDITION_CHILDREN_HEALTHY, reason, message, now)

    def mark_phase_deleting(self) -> None:
        self.phase = c.ISBServicePhase.DELETING.value

    def is_healthy(self) -> bool:
        if self.phase not in (c.ISBServicePhase.RUNNING.value, c.ISBServicePhase.DELETING.value):
            return False
        return self.is_ready()


class InterStepBufferService(ObjectNames, NumaModel):
    api_version: Literal["numaflow.numaproj.io/v1alpha1"] = "numaflow.numaproj.io/v1alpha1"
    kind: Literal["InterStepBufferService"] = "InterStepBufferService"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: InterStepBufferServiceSpec
    status: InterStepBufferServiceStatus | None = None

    def get_status(self) -> InterStepBufferServiceStatus:
        if self.status is None:
            self.status = InterStepBufferServiceStatus()
        return self.status

    def statefulset_name(self) -> str:
        return naming.isb_statefulset_name(self.name)

    def headless_service_name(self) -> str:
        return naming.isb_headless_service_name(self.name)

    def config_map_name(self) -> str:
        return naming.isb_config_map_name(self.name)

    def client_url(self) -> str:
        return naming.isb_client_url(self.name, self.namespace)
