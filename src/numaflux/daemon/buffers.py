"""Buffer info for a pipeline's buffers: the one computation the daemon, the controller and the CLI share.

Length and usage limit come from the pipeline's limits overridden by the owning (reading) vertex's limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nats.js import JetStreamContext

from numaflux.api import Pipeline
from numaflux.isb.info import BufferInfo, get_buffer_info


class UnknownBufferError(LookupError):
    """The buffer is not one of the pipeline's."""

    def __init__(self, pipeline: str, buffer: str) -> None:
        super().__init__(f"buffer {buffer!r} is not a buffer of pipeline {pipeline!r}")
        self.pipeline = pipeline
        self.buffer = buffer


def buffer_owners(pipeline: Pipeline) -> dict[str, str]:
    """Buffer name → the vertex that reads it, in pipeline order."""
    return {
        buffer: v.get_name()
        for v in pipeline.vertices
        for buffer in v.owned_buffer_names(pipeline.namespace, pipeline.name)
    }


def buffer_limits(pipeline: Pipeline, buffer: str) -> tuple[int, float]:
    """`(bufferMaxLength, bufferUsageLimit as a fraction)` of `buffer`; UnknownBufferError if not ours."""
    owner = buffer_owners(pipeline).get(buffer)
    if owner is None:
        raise UnknownBufferError(pipeline.name, buffer)
    limits = pipeline.get_vertex_limits(owner)
    return limits.get_buffer_max_length(), limits.get_buffer_usage_limit_fraction()


async def get_pipeline_buffer_info(js: JetStreamContext, pipeline: Pipeline, buffer: str) -> BufferInfo:
    """BufferInfo of one buffer of `pipeline` (nats NotFoundError if its stream or consumer is missing)."""
    length, limit = buffer_limits(pipeline, buffer)
    return await get_buffer_info(js, buffer, max_length=length, usage_limit=limit)


async def list_pipeline_buffer_info(js: JetStreamContext, pipeline: Pipeline) -> list[BufferInfo]:
    """BufferInfo of every buffer of `pipeline`, in pipeline order."""
    return [await get_pipeline_buffer_info(js, pipeline, b) for b in buffer_owners(pipeline)]


def is_drained(infos: list[BufferInfo]) -> bool:
    """Every buffer has nothing pending and nothing being processed."""
    return all(i.is_drained for i in infos)


def buffer_info_json(pipeline: str, info: BufferInfo) -> dict[str, Any]:
    """The daemon's JSON for one buffer (NumaFlow's grpc-gateway field names; numbers, not strings)."""
    return {
        "pipeline": pipeline,
        "bufferName": info.buffer,
        "pendingCount": info.pending,
        "ackPendingCount": info.ack_pending,
        "totalMessages": info.total_messages,
        "bufferLength": info.buffer_length,
        "bufferUsageLimit": info.usage_limit,
        "bufferUsage": info.usage,
        "isFull": info.is_full,
    }


def _number(doc: Mapping[str, Any], key: str) -> float:
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        raise ValueError(f"BufferInfo.{key}: missing or not a number: {value!r}")
    # grpc-gateway renders int64 as strings; accept both
    return float(value)


def buffer_info_from_json(doc: Mapping[str, Any]) -> BufferInfo:
    """Parse one BufferInfo JSON object; ValueError names the bad field."""
    name = doc.get("bufferName")
    if not isinstance(name, str) or not name:
        raise ValueError(f"BufferInfo.bufferName: missing or not a string: {name!r}")
    return BufferInfo(
        buffer=name,
        pending=int(_number(doc, "pendingCount")),
        ack_pending=int(_number(doc, "ackPendingCount")),
        total_messages=int(_number(doc, "totalMessages")),
        buffer_length=int(_number(doc, "bufferLength")),
        usage_limit=_number(doc, "bufferUsageLimit"),
    )
