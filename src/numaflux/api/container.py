"""Containers, container templates and the pod-template fields NumaFlow types embed.

Everything whose shape is a Kubernetes type is carried as JSON without field-by-field validation.
"""

from __future__ import annotations

from typing import Any

from numaflux.api._base import NumaModel
from numaflux.api.meta import PodMetadata


class Container(NumaModel):
    """A user container (UDF, UD source/sink/transformer, side input)."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[dict[str, Any]] | None = None
    env_from: list[dict[str, Any]] | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    resources: dict[str, Any] | None = None
    security_context: dict[str, Any] | None = None
    image_pull_policy: str | None = None
    readiness_probe: dict[str, Any] | None = None
    liveness_probe: dict[str, Any] | None = None
    ports: list[dict[str, Any]] | None = None


class ContainerTemplate(NumaModel):
    """Overrides for a platform-built container (``containerTemplate`` and friends)."""

    resources: dict[str, Any] | None = None
    image_pull_policy: str | None = None
    security_context: dict[str, Any] | None = None
    env: list[dict[str, Any]] | None = None
    env_from: list[dict[str, Any]] | None = None
    readiness_probe: dict[str, Any] | None = None
    liveness_probe: dict[str, Any] | None = None


class AbstractPodTemplate(NumaModel):
    """Pod-level fields NumaFlow inlines into vertices, templates and the ISB service."""

    metadata: PodMetadata | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    affinity: dict[str, Any] | None = None
    service_account_name: str | None = None
    runtime_class_name: str | None = None
    automount_service_account_token: bool | None = None
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    resource_claims: list[dict[str, Any]] | None = None
