"""Epoch-millisecond <-> protobuf Timestamp conversions used on every message."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

Timestamp: Any = timestamp_pb2.Timestamp


def to_timestamp(ms: int) -> Any:
    """Floor division keeps -1 ms as {seconds: -1, nanos: 999000000}, as NumaFlow sends it."""
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def from_timestamp(ts: Any) -> int:
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000
