"""Map UDF client: unary, batch and stream modes over one long-lived ``map.v1.Map/MapFn`` stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from pynumaflow.proto.mapper import map_pb2, map_pb2_grpc

from numaflux.dataplane.udf._base import UDFClient
from numaflux.dataplane.udf._convert import to_timestamp
from numaflux.dataplane.udf._h2grpc import Method
from numaflux.dataplane.udf._stream import BidiStream, PendingBatch
from numaflux.dataplane.udf.errors import UDFConnectionError, UDFError, UDFProtocolError
from numaflux.dataplane.udf.serverinfo import MapMode, ServerInfo, UDFPaths
from numaflux.dataplane.udf.types import MapResult, UDFDatum

_MAP_FN = Method(map_pb2.DESCRIPTOR.services_by_name["Map"], "MapFn")
_Request: Any = map_pb2.MapRequest
_Body: Any = map_pb2.MapRequest.Request
_HANDSHAKE = _Request(handshake=map_pb2.Handshake(sot=True))
_EOT = _Request(status=map_pb2.TransmissionStatus(eot=True))


def map_requests(datums: Sequence[UDFDatum]) -> list[Any]:
    """The MapRequests NumaFlow sends for a batch (timestamps shared between equal times).

    Fields are set on the new message rather than passed to the constructors: building `Request(...)`
    with submessage arguments and then `MapRequest(request=...)` copies twice and costs ~3x as much,
    on every message the vertex maps."""
    stamps: dict[int, Any] = {}
    out = []
    for d in datums:
        req = _Request(id=d.id)
        body = req.request
        body.value = d.value
        if d.keys:
            body.keys.extend(d.keys)
        ms = d.event_time_ms
        event_time = stamps.get(ms)
        if event_time is None:
            event_time = stamps[ms] = to_timestamp(ms)
        body.event_time.CopyFrom(event_time)
        wm = d.watermark_ms
        if wm is not None:
            watermark = stamps.get(wm)
            if watermark is None:
                watermark = stamps[wm] = to_timestamp(wm)
            body.watermark.CopyFrom(watermark)
        if d.headers:
            body.headers.update(d.headers)
        out.append(req)
    return out


def _results(resp: Any) -> list[MapResult]:
    return [MapResult(r.value, list(r.keys), list(r.tags)) for r in resp.results]


class MapClient(UDFClient):
    """Client of a map UDF; the mode (unary / batch / stream) comes from the server-info file.

    ``map_batch`` sends a batch on the shared stream and returns ``{id: [MapResult, ...]}`` with an
    entry for every input id (an empty list means "no output", still acked).  Unary and stream mode
    allow concurrent batches; batch mode serialises them (its EOT closes the whole batch).
    """

    def __init__(
        self,
        paths: UDFPaths | None = None,
        *,
        name: str = "map",
        connect_timeout: float = 120.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, connect_timeout=connect_timeout, poll_interval=poll_interval, clock=clock)
        self.paths = paths or UDFPaths()
        self._stream: BidiStream | None = None
        self._pending: dict[str, PendingBatch] = {}
        self._batch_lock = asyncio.Lock()
        self._current: PendingBatch | None = None

    @property
    def mode(self) -> MapMode:
        if self._info is None:
            raise UDFConnectionError(self.name, "not connected: map mode unknown")
        return self._info.map_mode

    def _info_path(self) -> Path:
        return self.paths.map_info()

    def _socket_path(self, info: ServerInfo) -> Path:
        return self.paths.map_socket(info.map_mode)

    def _make_stub(self, channel: grpc.aio.Channel) -> Any:
        return map_pb2_grpc.MapStub(channel)

    async def _open_streams(self) -> None:
        stream = self._open_stream(self.name, _MAP_FN)
        self._stream = stream
        await stream.handshake(_HANDSHAKE)
        handler = {
            MapMode.UNARY: self._on_unary,
            MapMode.STREAM: self._on_stream,
            MapMode.BATCH: self._on_batch,
        }[self.mode]
        stream.start_reader(handler)

    def _fail_in_flight(self, err: UDFError) -> None:
        self._stream = None
        pending, self._pending = self._pending, {}
        for batch in pending.values():
            batch.fail(err)
        if self._current is not None:
            self._current.fail(err)
            self._current = None

    async def map_batch(self, datums: Sequence[UDFDatum]) -> dict[str, list[MapResult]]:
        """Map every datum; raises UDFError (nothing partial is returned) if the UDF fails.

        Cancelling the caller is safe: the batch still completes on the stream, unseen.
        """
        if not datums:
            return {}
        self._check()
        return await self._detached(self._submit(datums))

    async def _submit(self, datums: Sequence[UDFDatum]) -> dict[str, list[MapResult]]:
        if self.mode is MapMode.BATCH:
            # The EOT closes the whole batch: one batch on the stream at a time.
            async with self._batch_lock:
                return await self._send(datums, eot=True)
        return await self._send(datums, eot=False)

    async def _send(self, datums: Sequence[UDFDatum], *, eot: bool) -> dict[str, list[MapResult]]:
        self._check()
        stream = self._stream
        assert stream is not None
        batch = PendingBatch(len(datums))
        pending = self._pending
        for d in datums:
            if d.id in pending or d.id in batch.results:
                raise ValueError(f"map request id {d.id!r} is already in flight")
            batch.results[d.id] = []
        for d in datums:
            pending[d.id] = batch
        requests = map_requests(datums)
        if eot:
            requests.append(_EOT)
            self._current = batch
        try:
            await stream.write_all(requests)
            return await batch.future
        finally:
            if self._current is batch:
                self._current = None

    def _take(self, resp_id: str) -> PendingBatch:
        batch = self._pending.pop(resp_id, None)
        if batch is None:
            raise UDFProtocolError(self.name, f"response for unknown or already answered id {resp_id!r}")
        return batch

    def _on_unary(self, resp: Any) -> None:
        batch = self._take(resp.id)
        batch.results[resp.id] = _results(resp)
        batch.remaining -= 1
        if batch.remaining == 0 and not batch.future.done():
            batch.future.set_result(batch.results)

    def _on_stream(self, resp: Any) -> None:
        if resp.status.eot:
            batch = self._take(resp.id)
            if resp.results:
                batch.results[resp.id].extend(_results(resp))
            batch.remaining -= 1
            if batch.remaining == 0 and not batch.future.done():
                batch.future.set_result(batch.results)
            return
        batch_or_none = self._pending.get(resp.id)
        if batch_or_none is None:
            raise UDFProtocolError(self.name, f"stream response for unknown id {resp.id!r}")
        batch_or_none.results[resp.id].extend(_results(resp))

    def _on_batch(self, resp: Any) -> None:
        if resp.status.eot and not resp.id:
            batch = self._current
            if batch is None:
                raise UDFProtocolError(self.name, "EOT without a batch in flight")
            if batch.remaining:
                raise UDFProtocolError(
                    self.name, f"UDF_PARTIAL_RESPONSE(batch_map): {batch.remaining} ids unanswered at EOT"
                )
            self._current = None
            if not batch.future.done():
                batch.future.set_result(batch.results)
            return
        batch = self._take(resp.id)
        batch.results[resp.id] = _results(resp)
        batch.remaining -= 1
