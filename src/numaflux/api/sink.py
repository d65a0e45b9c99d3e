"""Sink shapes (``vertex.sink``, ``monoVertex.spec.sink``) and the retry strategy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.container import Container
from numaflux.api.duration import Duration, parse_duration_seconds
from numaflux.api.tls import TLS

OnFailure = Literal["retry", "fallback", "drop"]


class Backoff(NumaModel):
    interval: Duration | None = None
    steps: int | None = None
    factor: float | None = None
    cap: Duration | None = None
    jitter: float | None = None

    def get_interval(self) -> str:
        return self.interval or c.DEFAULT_RETRY_INTERVAL

    def get_interval_seconds(self) -> float:
        return parse_duration_seconds(self.get_interval())

    def get_steps(self) -> int:
        return c.DEFAULT_RETRY_STEPS if self.steps is None else self.steps

    def get_factor(self) -> float:
        return c.DEFAULT_RETRY_FACTOR if self.factor is None else self.factor

    def get_jitter(self) -> float:
        return c.DEFAULT_RETRY_JITTER if self.jitter is None else self.jitter


class RetryStrategy(NumaModel):
    backoff: Backoff | None = None
    on_failure: OnFailure | None = None

    def get_backoff(self) -> Backoff:
        return self.backoff or Backoff()

    def get_on_failure(self) -> str:
        return self.on_failure or c.DEFAULT_RETRY_ON_FAILURE


class Log(NumaModel):
    pass


class Blackhole(NumaModel):
    pass


class ServeSink(NumaModel):
    pass


class KafkaSink(NumaModel):
    brokers: list[str] | None = None
    topic: str | None = None
    set_key: bool | None = None
    tls: TLS | None = None
    config: str | None = None
    sasl: dict[str, Any] | None = None


class SqsSink(NumaModel):
    aws_region: str | None = Field(default=None, alias="awsRegion")
    queue_name: str | None = None
    queue_owner_aws_account_id: str | None = Field(default=None, alias="queueOwnerAWSAccountID")
    endpoint_url: str | None = None
    assume_role: dict[str, Any] | None = None


class PulsarSink(NumaModel):
    server_addr: str | None = None
    topic: str | None = None
    producer_name: str | None = None
    auth: dict[str, Any] | None = None


class UDSink(NumaModel):
    container: Container | None = None


class AbstractSink(NumaModel):
    """One sink kind."""

    log: Log | None = None
    kafka: KafkaSink | None = None
    blackhole: Blackhole | None = None
    udsink: UDSink | None = Field(default=None, alias="udsink")
    serve: ServeSink | None = None
    sqs: SqsSink | None = None
    pulsar: PulsarSink | None = None

    def kinds(self) -> list[str]:
        """JSON names of the sink kinds that are set."""
        names = ("log", "kafka", "blackhole", "udsink", "serve", "sqs", "pulsar")
        return [n for n in names if getattr(self, n) is not None]


class Sink(AbstractSink):
    fallback: AbstractSink | None = None
    on_success: AbstractSink | None = None
    retry_strategy: RetryStrategy | None = None

    def get_retry_strategy(self) -> RetryStrategy:
        return self.retry_strategy or RetryStrategy()
