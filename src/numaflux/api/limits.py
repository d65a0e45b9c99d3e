"""Read/buffer limits of pipelines, vertices and MonoVertices, and their merge."""

from __future__ import annotations

from typing import Any

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.duration import Duration, parse_duration_seconds


class RateLimiterStore(NumaModel):
    """Where rate-limiter tokens are tracked: ``redisStore`` or ``inMemoryStore``."""

    redis_store: dict[str, Any] | None = None
    in_memory_store: dict[str, Any] | None = None


class RateLimit(NumaModel):
    max: int | None = None
    min: int | None = None
    ramp_up_duration: Duration | None = None
    store: RateLimiterStore | None = None
    modes: dict[str, Any] | None = None
    resumed_ramp_up: bool | None = None
    ttl: Duration | None = None

    def get_min(self) -> int:
        return c.DEFAULT_RATE_LIMIT_MIN if self.min is None else self.min

    def get_ramp_up_duration(self) -> str:
        return self.ramp_up_duration or c.DEFAULT_RATE_LIMIT_RAMP_UP

    def get_ramp_up_seconds(self) -> float:
        return parse_duration_seconds(self.get_ramp_up_duration())

    def get_resumed_ramp_up(self) -> bool:
        return bool(self.resumed_ramp_up)

    def get_ttl(self) -> str:
        return self.ttl or c.DEFAULT_RATE_LIMIT_TTL


class _Limits(NumaModel):
    read_batch_size: int | None = None
    read_timeout: Duration | None = None
    rate_limit: RateLimit | None = None
    concurrency: int | None = None

    def get_read_batch_size(self) -> int:
        v = self.read_batch_size
        return c.DEFAULT_READ_BATCH_SIZE if v is None else v

    def get_read_timeout(self) -> str:
        return self.read_timeout or c.DEFAULT_READ_TIMEOUT

    def get_read_timeout_seconds(self) -> float:
        return parse_duration_seconds(self.get_read_timeout())

    def get_concurrency(self) -> int:
        """In-flight cap; defaults to the read batch size."""
        return self.get_read_batch_size() if self.concurrency is None else self.concurrency


class _BufferLimits(_Limits):
    buffer_max_length: int | None = None
    buffer_usage_limit: int | None = None  # percent

    def get_buffer_max_length(self) -> int:
        v = self.buffer_max_length
        return c.DEFAULT_BUFFER_LENGTH if v is None else v

    def get_buffer_usage_limit(self) -> int:
        """Usage limit in percent (80 by default)."""
        if self.buffer_usage_limit is None:
            return round(100 * c.DEFAULT_BUFFER_USAGE_LIMIT)
        return self.buffer_usage_limit

    def get_buffer_usage_limit_fraction(self) -> float:
        return self.get_buffer_usage_limit() / 100


class PipelineLimits(_BufferLimits):
    """``spec.limits`` of a Pipeline."""

    def with_defaults(self) -> PipelineLimits:
        """A copy with NumaFlow's defaults filled in (``GetPipelineLimits``); concurrency stays as given."""
        out = PipelineLimits(
            read_batch_size=self.get_read_batch_size(),
            buffer_max_length=self.get_buffer_max_length(),
            buffer_usage_limit=self.get_buffer_usage_limit(),
            read_timeout=self.get_read_timeout(),
        )
        if self.rate_limit is not None:
            out.rate_limit = self.rate_limit.model_copy(deep=True)
        if self.concurrency is not None:
            out.concurrency = self.concurrency
        return out


class VertexLimits(_BufferLimits):
    """``limits`` of a pipeline vertex."""


class MonoVertexLimits(_Limits):
    """``spec.limits`` of a MonoVertex."""


def merge_limits(pipeline: PipelineLimits | None, vertex: VertexLimits | None) -> VertexLimits:
    """Vertex limits over the (defaulted) pipeline limits, field by field (NumaFlow's ``mergeLimits``).

    For ``rateLimit`` the vertex's object wins, but its unset ``max``/``min``/``rampUpDuration``/``store``
    come from the pipeline's rate limit when the pipeline has one (NumaFlow would dereference a missing
    pipeline rate limit here; we simply leave the field unset).
    """
    pl = (pipeline or PipelineLimits()).with_defaults()
    v = vertex or VertexLimits()
    rate: RateLimit | None
    if v.rate_limit is None:
        rate = pl.rate_limit
    else:
        rate = v.rate_limit.model_copy(deep=True)
        if pl.rate_limit is not None:
            if rate.max is None and pl.rate_limit.max is not None:
                rate.max = pl.rate_limit.max
            if rate.min is None and pl.rate_limit.min is not None:
                rate.min = pl.rate_limit.min
            if rate.ramp_up_duration is None and pl.rate_limit.ramp_up_duration is not None:
                rate.ramp_up_duration = pl.rate_limit.ramp_up_duration
            if rate.store is None and pl.rate_limit.store is not None:
                rate.store = pl.rate_limit.store.model_copy(deep=True)
    merged = VertexLimits(
        read_batch_size=v.read_batch_size if v.read_batch_size is not None else pl.read_batch_size,
        read_timeout=v.read_timeout if v.read_timeout is not None else pl.read_timeout,
        buffer_max_length=v.buffer_max_length if v.buffer_max_length is not None else pl.buffer_max_length,
        buffer_usage_limit=(
            v.buffer_usage_limit if v.buffer_usage_limit is not None else pl.buffer_usage_limit
        ),
    )
    concurrency = v.concurrency if v.concurrency is not None else pl.concurrency
    if concurrency is not None:
        merged.concurrency = concurrency
    if rate is not None:
        merged.rate_limit = rate
    return merged
