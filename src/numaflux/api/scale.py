"""Autoscaling settings (``scale``) and their defaults."""

from __future__ import annotations

from numaflux.api import constants as c
from numaflux.api._base import NumaModel


class CronSchedule(NumaModel):
    """One cron window: between ``start`` and ``end`` (6-field cron) replicas stay in [min, max]."""

    start: str | None = None
    end: str | None = None
    min: int | None = None
    max: int | None = None


class CronScheduling(NumaModel):
    timezone: str | None = None
    schedules: list[CronSchedule] | None = None

    def get_timezone(self) -> str:
        return self.timezone or c.DEFAULT_CRON_TIMEZONE


class Scale(NumaModel):
    """``scale`` of a vertex or MonoVertex. All defaults are applied by the getters."""

    disabled: bool | None = None
    min: int | None = None
    max: int | None = None
    lookback_seconds: int | None = None
    zero_replica_sleep_seconds: int | None = None
    target_processing_seconds: int | None = None
    target_buffer_availability: int | None = None
    replicas_per_scale: int | None = None  # deprecated; fallback for the two fields below
    scale_up_cooldown_seconds: int | None = None
    scale_down_cooldown_seconds: int | None = None
    replicas_per_scale_up: int | None = None
    replicas_per_scale_down: int | None = None
    cron: CronScheduling | None = None

    def is_disabled(self) -> bool:
        return bool(self.disabled)

    def get_min_replicas(self) -> int:
        if self.min is None or self.min < 0:
            return c.DEFAULT_MIN_REPLICAS
        return self.min

    def get_max_replicas(self) -> int:
        return c.DEFAULT_MAX_REPLICAS if self.max is None else self.max

    def get_lookback_seconds(self) -> int:
        if self.lookback_seconds is None:
            return c.DEFAULT_LOOKBACK_SECONDS
        return min(c.MAX_LOOKBACK_SECONDS, self.lookback_seconds)

    def get_zero_replica_sleep_seconds(self) -> int:
        v = self.zero_replica_sleep_seconds
        return c.DEFAULT_ZERO_REPLICA_SLEEP_SECONDS if v is None else v

    def get_target_processing_seconds(self) -> int:
        v = self.target_processing_seconds
        return c.DEFAULT_TARGET_PROCESSING_SECONDS if v is None else v

    def get_target_buffer_availability(self) -> int:
        v = self.target_buffer_availability
        return c.DEFAULT_TARGET_BUFFER_AVAILABILITY if v is None else v

    def get_scale_up_cooldown_seconds(self) -> int:
        v = self.scale_up_cooldown_seconds
        return c.DEFAULT_COOLDOWN_SECONDS if v is None else v

    def get_scale_down_cooldown_seconds(self) -> int:
        v = self.scale_down_cooldown_seconds
        return c.DEFAULT_COOLDOWN_SECONDS if v is None else v

    def get_replicas_per_scale_up(self) -> int:
        if self.replicas_per_scale_up is not None:
            return self.replicas_per_scale_up
        if self.replicas_per_scale is not None:
            return self.replicas_per_scale
        return c.DEFAULT_REPLICAS_PER_SCALE

    def get_replicas_per_scale_down(self) -> int:
        if self.replicas_per_scale_down is not None:
            return self.replicas_per_scale_down
        if self.replicas_per_scale is not None:
            return self.replicas_per_scale
        return c.DEFAULT_REPLICAS_PER_SCALE

    def clamp(self, replicas: int) -> int:
        """Clamp ``replicas`` into [min, max] unless scaling is disabled (CalculateReplicas' rule)."""
        if self.is_disabled():
            return replicas
        lo, hi = self.get_min_replicas(), self.get_max_replicas()
        if replicas < lo:
            return lo
        if replicas > hi:
            return hi
        return replicas
