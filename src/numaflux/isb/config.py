"""JetStream settings for buffers and KV buckets (NumaFlow's `isbsvc.jetstream.bufferConfig` defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ONE_HOUR = 3600.0


class Retention(Enum):
    """Stream retention; NumaFlow's config numbers them 0, 1, 2."""

    LIMITS = "limits"
    INTEREST = "interest"
    WORK_QUEUE = "workqueue"


class OnFull(Enum):
    """What a writer does when the target buffer is full (edge `onFull`)."""

    RETRY_UNTIL_SUCCESS = "retryUntilSuccess"
    DISCARD_LATEST = "discardLatest"

    @classmethod
    def parse(cls, value: str | None) -> OnFull:
        """`None` means retryUntilSuccess (the default); unknown values raise ValueError naming `onFull`."""
        if value is None:
            return cls.RETRY_UNTIL_SUCCESS
        for member in cls:
            if member.value == value:
                return member
        raise ValueError(f"onFull: unknown value {value!r}; expected retryUntilSuccess or discardLatest")


@dataclass(frozen=True, slots=True)
class BufferConfig:
    """Stream + durable consumer settings of one buffer. Durations in seconds; maxBytes -1 = unlimited."""

    max_msgs: int = 100_000
    max_age: float = 72 * ONE_HOUR
    max_bytes: int = -1
    file_storage: bool = True
    replicas: int = 1
    duplicates: float = 60.0
    retention: Retention = Retention.LIMITS
    ack_wait: float = 60.0
    max_ack_pending: int = 25_000

    @property
    def discard_new(self) -> bool:
        """NumaFlow discards old messages under Limits retention and rejects new ones otherwise."""
        return self.retention is not Retention.LIMITS


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """A KV bucket's settings (watermark OT buckets: history 1, ttl 3h)."""

    history: int = 1
    ttl: float = 3 * ONE_HOUR
    max_value_size: int = -1
    max_bytes: int = -1
    file_storage: bool = True
    replicas: int = 1


OT_BUCKET = BucketConfig()
SIDE_INPUTS_BUCKET = BucketConfig(ttl=30 * 24 * ONE_HOUR)


def buffer_name(namespace: str, pipeline: str, vertex: str, partition: int) -> str:
    """`{ns}-{pipeline}-{vertex}-{i}`: the stream, its subject and its durable consumer share it."""
    return f"{namespace}-{pipeline}-{vertex}-{partition}"


def edge_bucket_name(namespace: str, pipeline: str, from_vertex: str, to_vertex: str) -> str:
    """Watermark bucket of an edge; the KV created for it is `ot_bucket_name(...)`."""
    return f"{namespace}-{pipeline}-{from_vertex}-{to_vertex}"


def source_bucket_name(namespace: str, pipeline: str, vertex: str) -> str:
    """Watermark bucket of a source vertex."""
    return f"{namespace}-{pipeline}-{vertex}_SOURCE"


def sink_bucket_name(namespace: str, pipeline: str, vertex: str) -> str:
    """Watermark bucket of a sink vertex."""
    return f"{namespace}-{pipeline}-{vertex}_SINK"


def ot_bucket_name(bucket: str) -> str:
    """The KV holding a bucket's offset-timeline (watermark) entries."""
    return f"{bucket}_OT"


def side_inputs_bucket_name(namespace: str, pipeline: str) -> str:
    """The KV a pipeline's side-input manager writes to."""
    return f"{namespace}-{pipeline}_SIDE_INPUTS"
