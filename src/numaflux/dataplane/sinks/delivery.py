"""Delivering a batch to a sink vertex's sinks: retryStrategy for FAILURE answers, FALLBACK answers and
exhausted retries (onFailure: fallback) to the fallback sink, ON_SUCCESS answers to the onSuccess sink.

A UDFError from any sink propagates: the forwarder NAKs the whole batch (it is redelivered; the sinks
see it again).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from numaflux.api import Backoff, RetryStrategy, parse_duration_seconds
from numaflux.dataplane.sinks.base import Sink
from numaflux.dataplane.udf import SinkStatus, UDFDatum

log = logging.getLogger(__name__)

# Retrying a fallback / onSuccess sink that answers FAILURE: fixed short backoff, forever.
SECONDARY_RETRY_INTERVAL = 0.1


def backoff_delay(backoff: Backoff, attempt: int, rand: float) -> float:
    """Seconds to wait before retry number `attempt` (1-based): ``interval * factor^(attempt-1)``, capped
    by ``cap`` if set, plus up to ``jitter`` x that (``rand`` in [0, 1))."""
    delay = backoff.get_interval_seconds() * backoff.get_factor() ** max(0, attempt - 1)
    if backoff.cap:
        delay = min(delay, parse_duration_seconds(backoff.cap))
    jitter = backoff.get_jitter()
    if jitter > 0:
        delay += delay * jitter * rand
    return delay


@dataclass(slots=True)
class DeliverySummary:
    """Counts of one delivered batch."""

    succeeded: int = 0
    fallback: int = 0
    on_success: int = 0
    dropped: int = 0
    retries: int = 0


class Delivery:
    """The primary sink plus the optional fallback and onSuccess sinks, under one retry strategy."""

    def __init__(
        self,
        primary: Sink,
        *,
        fallback: Sink | None = None,
        on_success: Sink | None = None,
        retry: RetryStrategy | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.on_success = on_success
        self.retry = retry or RetryStrategy()
        self._sleep = sleep
        self._rand = rand

    def sinks(self) -> list[Sink]:
        return [s for s in (self.primary, self.fallback, self.on_success) if s is not None]

    async def deliver(self, datums: Sequence[UDFDatum]) -> DeliverySummary:
        """Deliver `datums`; returns when each one succeeded somewhere or was dropped by policy."""
        summary = DeliverySummary()
        backoff = self.retry.get_backoff()
        steps = backoff.get_steps()
        on_failure = self.retry.get_on_failure()
        pending = list(datums)
        to_fallback: list[UDFDatum] = []
        to_on_success: list[UDFDatum] = []
        attempt = 0
        while pending:
            results = await self.primary.write(pending)
            failed: list[UDFDatum] = []
            for d in pending:
                r = results[d.id]
                if r.status is SinkStatus.FAILURE or r.status is SinkStatus.NACK:
                    failed.append(d)
                elif r.status is SinkStatus.FALLBACK:
                    to_fallback.append(d)
                elif r.status is SinkStatus.ON_SUCCESS:
                    summary.succeeded += 1
                    if r.on_success is not None:
                        to_on_success.append(
                            UDFDatum(
                                d.id,
                                r.on_success.value,
                                r.on_success.keys,
                                d.event_time_ms,
                                d.watermark_ms,
                                d.headers,
                            )
                        )
                    else:
                        to_on_success.append(d)
                else:
                    summary.succeeded += 1
            pending = failed
            if not pending:
                break
            attempt += 1
            summary.retries += 1
            if attempt >= steps and on_failure != "retry":
                if on_failure == "fallback":
                    to_fallback.extend(pending)
                else:
                    log.warning(
                        "sink %s: dropping %d messages after %d attempts",
                        self.primary.name,
                        len(pending),
                        attempt,
                    )
                    summary.dropped += len(pending)
                pending = []
                break
            await self._pause(backoff_delay(backoff, min(attempt, steps), self._rand()))
        if to_fallback:
            if self.fallback is None:
                raise SinkConfigError(
                    f"sink {self.primary.name}: {len(to_fallback)} messages need the fallback sink, "
                    "but sink.fallback is not set"
                )
            await self._secondary(self.fallback, to_fallback)
            summary.fallback += len(to_fallback)
        if to_on_success:
            if self.on_success is None:
                log.warning(
                    "sink %s: ON_SUCCESS for %d messages but sink.onSuccess is not set; treated as success",
                    self.primary.name,
                    len(to_on_success),
                )
            else:
                await self._secondary(self.on_success, to_on_success)
                summary.on_success += len(to_on_success)
        return summary

    async def _pause(self, seconds: float) -> None:
        result = self._sleep(seconds)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result

    async def _secondary(self, sink: Sink, datums: list[UDFDatum]) -> None:
        """Write to a fallback / onSuccess sink until every datum succeeded."""
        pending = datums
        while pending:
            results = await sink.write(pending)
            pending = [d for d in pending if results[d.id].status is not SinkStatus.SUCCESS]
            if pending:
                log.warning("sink %s: %d messages not accepted, retrying", sink.name, len(pending))
                await self._pause(SECONDARY_RETRY_INTERVAL)


class SinkConfigError(RuntimeError):
    """The sink answered in a way the vertex spec has no sink for."""
