"""Kubernetes ObjectMeta, passed through whole; the common fields are typed for convenience."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from numaflux.api._base import NumaModel


class ObjectMeta(BaseModel):
    """``metadata`` of a top-level object. Unknown Kubernetes fields are kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel, strict=True)

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None
    managed_fields: list[dict[str, Any]] | None = None

    def label(self, key: str) -> str | None:
        return (self.labels or {}).get(key)

    def annotation(self, key: str) -> str | None:
        return (self.annotations or {}).get(key)


class PodMetadata(NumaModel):
    """NumaFlow's ``Metadata`` (labels/annotations added to generated pods)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class _HasMetadata(Protocol):
    metadata: ObjectMeta


class ObjectNames:
    """`name` and `namespace` of a top-level object, "" when unset (mixed into the four kinds)."""

    @property
    def name(self: _HasMetadata) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self: _HasMetadata) -> str:
        return self.metadata.namespace or ""
