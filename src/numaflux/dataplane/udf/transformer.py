"""Source transformer client (``sourcetransformer.v1.SourceTransform/SourceTransformFn``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from pynumaflow.proto.sourcetransformer import transform_pb2, transform_pb2_grpc

from numaflux.dataplane.udf._base import UDFClient
from numaflux.dataplane.udf._convert import from_timestamp, to_timestamp
from numaflux.dataplane.udf._h2grpc import Method
from numaflux.dataplane.udf._stream import BidiStream, PendingBatch
from numaflux.dataplane.udf.errors import UDFError, UDFProtocolError
from numaflux.dataplane.udf.serverinfo import ServerInfo, UDFPaths
from numaflux.dataplane.udf.types import TransformResult, UDFDatum

_TRANSFORM_FN = Method(transform_pb2.DESCRIPTOR.services_by_name["SourceTransform"], "SourceTransformFn")
_Request: Any = transform_pb2.SourceTransformRequest
_Body: Any = transform_pb2.SourceTransformRequest.Request
_HANDSHAKE = _Request(handshake=transform_pb2.Handshake(sot=True))


def transform_request(d: UDFDatum) -> Any:
    """The id travels inside the request body (field 6) for this service."""
    body = _Body(
        keys=d.keys,
        value=d.value,
        event_time=to_timestamp(d.event_time_ms),
        headers=d.headers or None,
        id=d.id,
    )
    if d.watermark_ms is not None:
        body.watermark.CopyFrom(to_timestamp(d.watermark_ms))
    return _Request(request=body)


class SourceTransformClient(UDFClient):
    """``await client.transform_batch(datums) -> {id: [TransformResult, ...]}``; batches may overlap."""

    def __init__(
        self,
        paths: UDFPaths | None = None,
        *,
        name: str = "transformer",
        connect_timeout: float = 120.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, connect_timeout=connect_timeout, poll_interval=poll_interval, clock=clock)
        self.paths = paths or UDFPaths()
        self._stream: BidiStream | None = None
        self._pending: dict[str, PendingBatch] = {}

    def _info_path(self) -> Path:
        return self.paths.transformer_info()

    def _socket_path(self, info: ServerInfo) -> Path:
        return self.paths.transformer_socket()

    def _make_stub(self, channel: grpc.aio.Channel) -> Any:
        return transform_pb2_grpc.SourceTransformStub(channel)

    async def _open_streams(self) -> None:
        stream = self._open_stream(self.name, _TRANSFORM_FN)
        self._stream = stream
        await stream.handshake(_HANDSHAKE)
        stream.start_reader(self._on_response)

    def _fail_in_flight(self, err: UDFError) -> None:
        self._stream = None
        pending, self._pending = self._pending, {}
        for batch in pending.values():
            batch.fail(err)

    async def transform_batch(self, datums: Sequence[UDFDatum]) -> dict[str, list[TransformResult]]:
        if not datums:
            return {}
        self._check()
        return await self._detached(self._send(datums))

    async def _send(self, datums: Sequence[UDFDatum]) -> dict[str, list[TransformResult]]:
        self._check()
        stream = self._stream
        assert stream is not None
        batch = PendingBatch(len(datums))
        for d in datums:
            if d.id in self._pending or d.id in batch.results:
                raise ValueError(f"transform request id {d.id!r} is already in flight")
            batch.results[d.id] = []
        for d in datums:
            self._pending[d.id] = batch
        await stream.write_all([transform_request(d) for d in datums])
        return await batch.future

    def _on_response(self, resp: Any) -> None:
        batch = self._pending.pop(resp.id, None)
        if batch is None:
            raise UDFProtocolError(self.name, f"response for unknown or already answered id {resp.id!r}")
        batch.results[resp.id] = [
            TransformResult(r.value, list(r.keys), list(r.tags), from_timestamp(r.event_time))
            for r in resp.results
        ]
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.future.done():
            batch.future.set_result(batch.results)
