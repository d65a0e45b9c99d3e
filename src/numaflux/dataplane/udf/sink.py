"""User-defined sink client (``sink.v1.Sink/SinkFn``) for the primary, fallback and onSuccess sockets."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from pynumaflow.proto.sinker import sink_pb2, sink_pb2_grpc

from numaflux.dataplane.udf._base import UDFClient
from numaflux.dataplane.udf._convert import to_timestamp
from numaflux.dataplane.udf._h2grpc import Method
from numaflux.dataplane.udf._stream import BidiStream
from numaflux.dataplane.udf.errors import UDFError, UDFProtocolError
from numaflux.dataplane.udf.serverinfo import ServerInfo, UDFPaths
from numaflux.dataplane.udf.types import SinkOnSuccessMessage, SinkResult, SinkStatus, UDFDatum

_SINK_FN = Method(sink_pb2.DESCRIPTOR.services_by_name["Sink"], "SinkFn")
_Request: Any = sink_pb2.SinkRequest
_Body: Any = sink_pb2.SinkRequest.Request
_HANDSHAKE = _Request(handshake=sink_pb2.Handshake(sot=True))
_EOT = _Request(status=sink_pb2.TransmissionStatus(eot=True))


class SinkRole(enum.Enum):
    """Which sink container of the pod; selects the socket / server-info file name prefix."""

    PRIMARY = ""
    FALLBACK = "fb-"
    ON_SUCCESS = "ons-"


def sink_request(d: UDFDatum) -> Any:
    body = _Body(
        keys=d.keys,
        value=d.value,
        event_time=to_timestamp(d.event_time_ms),
        id=d.id,
        headers=d.headers or None,
    )
    if d.watermark_ms is not None:
        body.watermark.CopyFrom(to_timestamp(d.watermark_ms))
    return _Request(request=body)


def _result(r: Any) -> SinkResult:
    status = SinkStatus(r.status)
    on_success = None
    if status is SinkStatus.ON_SUCCESS and r.HasField("on_success_msg"):
        on_success = SinkOnSuccessMessage(r.on_success_msg.value, list(r.on_success_msg.keys))
    serve = r.serve_response if r.HasField("serve_response") else None
    return SinkResult(r.id, status, r.err_msg, on_success, serve)


class SinkClient(UDFClient):
    """Client of a user-defined sink: ``await sink.sink_batch(datums) -> {id: SinkResult}``.

    Each batch is N requests + EOT; the UDF answers every id then EOT.  A missing, unknown or
    duplicate id is a :class:`UDFProtocolError` (NumaFlow's UDF_PARTIAL_RESPONSE).  Batches are
    serialised on the single stream.
    """

    def __init__(
        self,
        paths: UDFPaths | None = None,
        *,
        role: SinkRole = SinkRole.PRIMARY,
        name: str | None = None,
        connect_timeout: float = 120.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            name or f"{role.value}udsink",
            connect_timeout=connect_timeout,
            poll_interval=poll_interval,
            clock=clock,
        )
        self.paths = paths or UDFPaths()
        self.role = role
        self._stream: BidiStream | None = None
        self._lock = asyncio.Lock()

    def _info_path(self) -> Path:
        return self.paths.sink_info(self.role.value)

    def _socket_path(self, info: ServerInfo) -> Path:
        return self.paths.sink_socket(self.role.value)

    def _make_stub(self, channel: grpc.aio.Channel) -> Any:
        return sink_pb2_grpc.SinkStub(channel)

    async def _open_streams(self) -> None:
        self._stream = self._open_stream(self.name, _SINK_FN)
        await self._stream.handshake(_HANDSHAKE)

    def _fail_in_flight(self, err: UDFError) -> None:
        self._stream = None

    async def sink_batch(self, datums: Sequence[UDFDatum]) -> dict[str, SinkResult]:
        """Write a batch; every input id gets a result, or UDFError is raised."""
        if not datums:
            return {}
        expected = {d.id for d in datums}
        if len(expected) != len(datums):
            raise ValueError("sink batch contains duplicate ids")
        self._check()
        return await self._detached(self._exchange(datums, expected))

    async def _exchange(self, datums: Sequence[UDFDatum], expected: set[str]) -> dict[str, SinkResult]:
        async with self._lock:
            self._check()
            return await self._exchange_locked(datums, expected)

    async def _exchange_locked(self, datums: Sequence[UDFDatum], expected: set[str]) -> dict[str, SinkResult]:
        stream = self._stream
        assert stream is not None
        await stream.write_all([*(sink_request(d) for d in datums), _EOT])
        results: dict[str, SinkResult] = {}
        while True:
            resp = await stream.read()
            for r in resp.results:
                if r.id not in expected or r.id in results:
                    msg = f"unexpected or duplicate result id {r.id!r}"
                    raise self._fail(UDFProtocolError(self.name, msg))
                results[r.id] = _result(r)
            if resp.status.eot:
                break
        if len(results) != len(expected):
            missing = len(expected) - len(results)
            msg = f"UDF_PARTIAL_RESPONSE({self.name}): {missing} ids unanswered at EOT"
            raise self._fail(UDFProtocolError(self.name, msg))
        return results
