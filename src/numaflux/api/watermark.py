"""Watermark settings."""

from __future__ import annotations

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.duration import Duration, parse_duration_seconds


class IdleSource(NumaModel):
    """Progress the watermark of an idle source by ``incrementBy`` every ``stepInterval``."""

    threshold: Duration | None = None
    step_interval: Duration | None = None
    increment_by: Duration | None = None
    init_source_delay: Duration | None = None

    def get_step_interval(self) -> str:
        return self.step_interval or c.DEFAULT_IDLE_STEP_INTERVAL

    def get_threshold_seconds(self) -> float:
        return parse_duration_seconds(self.threshold) if self.threshold else 0.0

    def get_step_interval_seconds(self) -> float:
        return parse_duration_seconds(self.get_step_interval())

    def get_increment_by_seconds(self) -> float:
        return parse_duration_seconds(self.increment_by) if self.increment_by else 0.0

    def get_init_source_delay_seconds(self) -> float:
        return parse_duration_seconds(self.init_source_delay) if self.init_source_delay else 0.0


class Watermark(NumaModel):
    disabled: bool | None = None
    max_delay: Duration | None = None
    idle_source: IdleSource | None = None

    def is_disabled(self) -> bool:
        return bool(self.disabled)

    def get_max_delay(self) -> str:
        return self.max_delay or c.DEFAULT_WATERMARK_MAX_DELAY

    def get_max_delay_seconds(self) -> float:
        return parse_duration_seconds(self.get_max_delay())
