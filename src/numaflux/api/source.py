"""Source shapes (``vertex.source``, ``monoVertex.spec.source``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.container import Container
from numaflux.api.duration import Duration, parse_duration_seconds
from numaflux.api.sink import RetryStrategy
from numaflux.api.tls import TLS


class GeneratorSource(NumaModel):
    rpu: int | None = None
    duration: Duration | None = None
    msg_size: int | None = None
    key_count: int | None = None
    value: int | None = None
    jitter: Duration | None = None
    value_blob: str | None = None

    def get_rpu(self) -> int:
        return c.DEFAULT_GENERATOR_RPU if self.rpu is None else self.rpu

    def get_duration(self) -> str:
        return self.duration or c.DEFAULT_GENERATOR_DURATION

    def get_duration_seconds(self) -> float:
        return parse_duration_seconds(self.get_duration())

    def get_msg_size(self) -> int:
        return c.DEFAULT_GENERATOR_MSG_SIZE if self.msg_size is None else self.msg_size

    def get_key_count(self) -> int:
        return 0 if self.key_count is None else self.key_count

    def get_jitter(self) -> str:
        return self.jitter or c.DEFAULT_GENERATOR_JITTER

    def get_jitter_seconds(self) -> float:
        return parse_duration_seconds(self.get_jitter())


class HTTPSourceAuth(NumaModel):
    token: dict[str, Any] | None = None  # SecretKeySelector


class HTTPSourcePorts(NumaModel):
    https: int | None = None
    http: int | None = None


class HTTPSource(NumaModel):
    auth: HTTPSourceAuth | None = None
    service: bool | None = None
    ports: HTTPSourcePorts | None = None

    def get_https_port(self) -> int:
        p = self.ports.https if self.ports else None
        return c.VERTEX_HTTPS_SOURCE_PORT if p is None else p

    def get_http_port(self) -> int | None:
        """Plain HTTP is served only when ``ports.http`` is set."""
        return self.ports.http if self.ports else None


class KafkaSource(NumaModel):
    brokers: list[str] | None = None
    topic: str | None = None
    consumer_group: str | None = None
    tls: TLS | None = None
    config: str | None = None
    sasl: dict[str, Any] | None = None
    kafka_version: str | None = None


class NatsAuth(NumaModel):
    basic: dict[str, Any] | None = None
    token: dict[str, Any] | None = None
    nkey: dict[str, Any] | None = None


class NatsSource(NumaModel):
    url: str | None = None
    subject: str | None = None
    queue: str | None = None
    tls: TLS | None = None
    auth: NatsAuth | None = None


class JetStreamSource(NumaModel):
    url: str | None = None
    stream: str | None = None
    consumer: str | None = None
    deliver_policy: str | None = Field(default=None, alias="deliver_policy")
    filter_subjects: list[str] | None = Field(default=None, alias="filter_subjects")
    tls: TLS | None = None
    auth: NatsAuth | None = None


class PulsarSource(NumaModel):
    server_addr: str | None = None
    topic: str | None = None
    consumer_name: str | None = None
    subscription_name: str | None = None
    max_unack: int | None = None
    auth: dict[str, Any] | None = None


class SqsSource(NumaModel):
    aws_region: str | None = Field(default=None, alias="awsRegion")
    queue_name: str | None = None
    queue_owner_aws_account_id: str | None = Field(default=None, alias="queueOwnerAWSAccountID")
    visibility_timeout: int | None = None
    max_number_of_messages: int | None = None
    wait_time_seconds: int | None = None
    endpoint_url: str | None = None
    attribute_names: list[str] | None = None
    message_attribute_names: list[str] | None = None
    assume_role: dict[str, Any] | None = None


class ServingSource(NumaModel):
    auth: HTTPSourceAuth | None = None
    service: bool | None = None
    msg_id_header_key: str | None = Field(default=None, alias="msgIDHeaderKey")
    store: dict[str, Any] | None = None


class UDSource(NumaModel):
    container: Container | None = None


class UDTransformer(NumaModel):
    container: Container | None = None
    retry_strategy: RetryStrategy | None = None


class Source(NumaModel):
    """Exactly one of the source kinds (checked by validation), plus an optional transformer."""

    generator: GeneratorSource | None = None
    kafka: KafkaSource | None = None
    http: HTTPSource | None = None
    nats: NatsSource | None = None
    jetstream: JetStreamSource | None = None
    pulsar: PulsarSource | None = None
    sqs: SqsSource | None = None
    serving: ServingSource | None = None
    udsource: UDSource | None = Field(default=None, alias="udsource")
    transformer: UDTransformer | None = None

    def kinds(self) -> list[str]:
        """JSON names of the source kinds that are set (``transformer`` is not a kind)."""
        names = ("generator", "kafka", "http", "nats", "jetstream", "pulsar", "sqs", "serving", "udsource")
        return [n for n in names if getattr(self, n) is not None]
