"""Pod templates for the objects a pipeline generates (daemon, jobs, side-input managers, vertices)."""

from __future__ import annotations

from numaflux.api._base import NumaModel
from numaflux.api.container import AbstractPodTemplate, ContainerTemplate


class DaemonTemplate(AbstractPodTemplate):
    replicas: int | None = None
    container_template: ContainerTemplate | None = None
    init_container_template: ContainerTemplate | None = None

    def get_replicas(self) -> int:
        return 1 if self.replicas is None else self.replicas


class JobTemplate(AbstractPodTemplate):
    container_template: ContainerTemplate | None = None
    ttl_seconds_after_finished: int | None = None
    backoff_limit: int | None = None


class SideInputsManagerTemplate(AbstractPodTemplate):
    container_template: ContainerTemplate | None = None
    init_container_template: ContainerTemplate | None = None


class VertexTemplate(AbstractPodTemplate):
    container_template: ContainerTemplate | None = None
    init_container_template: ContainerTemplate | None = None


class Templates(NumaModel):
    daemon: DaemonTemplate | None = None
    job: JobTemplate | None = None
    side_inputs_manager: SideInputsManagerTemplate | None = None
    vertex: VertexTemplate | None = None
