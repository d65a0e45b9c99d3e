"""User-defined functions: map, and reduce with ``groupBy`` windows and storage."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.container import Container
from numaflux.api.duration import Duration, parse_duration_seconds
from numaflux.api.sink import RetryStrategy


class FixedWindow(NumaModel):
    length: Duration | None = None
    streaming: bool | None = None


class SlidingWindow(NumaModel):
    length: Duration | None = None
    slide: Duration | None = None
    streaming: bool | None = None


class SessionWindow(NumaModel):
    timeout: Duration | None = None


class AccumulatorWindow(NumaModel):
    timeout: Duration | None = None


class Window(NumaModel):
    fixed: FixedWindow | None = None
    sliding: SlidingWindow | None = None
    session: SessionWindow | None = None
    accumulator: AccumulatorWindow | None = None

    def kinds(self) -> list[str]:
        names = ("fixed", "sliding", "session", "accumulator")
        return [n for n in names if getattr(self, n) is not None]


class PersistenceStrategy(NumaModel):
    """A PVC request (reduce storage, ISB service persistence)."""

    storage_class_name: str | None = None
    access_mode: str | None = None
    volume_size: str | None = None

    def get_access_mode(self) -> str:
        return self.access_mode or c.DEFAULT_PERSISTENCE_ACCESS_MODE

    def get_volume_size(self) -> str:
        return self.volume_size or c.DEFAULT_PERSISTENCE_VOLUME_SIZE


class NoStore(NumaModel):
    pass


class PBQStorage(NumaModel):
    persistent_volume_claim: PersistenceStrategy | None = None
    empty_dir: dict[str, Any] | None = None  # Kubernetes EmptyDirVolumeSource
    no_store: NoStore | None = Field(default=None, alias="no_store")


class GroupBy(NumaModel):
    window: Window | None = None
    keyed: bool | None = None
    allowed_lateness: Duration | None = None
    storage: PBQStorage | None = None

    def is_keyed(self) -> bool:
        return bool(self.keyed)

    def get_allowed_lateness_seconds(self) -> float:
        return parse_duration_seconds(self.allowed_lateness) if self.allowed_lateness else 0.0


class UDF(NumaModel):
    container: Container | None = None
    group_by: GroupBy | None = None
    retry_strategy: RetryStrategy | None = None
