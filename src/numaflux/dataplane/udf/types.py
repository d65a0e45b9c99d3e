"""Plain values exchanged with the UDF clients (the forwarder never touches protobuf)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Tag a UDF returns to drop a message (pynumaflow's DROP constant, verbatim on the wire).
DROP = "U+005C__DROP__"


@dataclass(slots=True)
class UDFDatum:
    """One message sent to a map, sink or transformer UDF; ``id`` correlates the answer."""

    id: str
    value: bytes
    keys: list[str] = field(default_factory=list)
    event_time_ms: int = 0
    watermark_ms: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class MapResult:
    """One output message of a map UDF for one input id."""

    value: bytes
    keys: list[str]
    tags: list[str]

    @property
    def is_drop(self) -> bool:
        return DROP in self.tags


@dataclass(slots=True)
class TransformResult:
    """One output message of a source transformer; the event time may be rewritten."""

    value: bytes
    keys: list[str]
    tags: list[str]
    event_time_ms: int

    @property
    def is_drop(self) -> bool:
        return DROP in self.tags


class SinkStatus(enum.IntEnum):
    """Per-message outcome of a user-defined sink (sink.v1 Status numbers)."""

    SUCCESS = 0
    FAILURE = 1
    FALLBACK = 2
    SERVE = 3
    ON_SUCCESS = 4
    NACK = 5


@dataclass(slots=True)
class SinkOnSuccessMessage:
    """Replacement message an ON_SUCCESS response asks to write to the onSuccess sink."""

    value: bytes
    keys: list[str]


@dataclass(slots=True)
class SinkResult:
    """Outcome of one sink request id."""

    id: str
    status: SinkStatus
    err_msg: str = ""
    on_success: SinkOnSuccessMessage | None = None
    serve_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class SourceOffset:
    """Offset of a user-defined source message, sent back verbatim in ack/nack."""

    offset: bytes
    partition_id: int


@dataclass(slots=True)
class SourceMessage:
    """One message read from a user-defined source."""

    payload: bytes
    offset: SourceOffset
    event_time_ms: int
    keys: list[str]
    headers: dict[str, str]
