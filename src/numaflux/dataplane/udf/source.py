"""User-defined source client (``source.v1.Source``): ReadFn and AckFn streams, Nack/Pending/Partitions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pynumaflow.proto.sourcer import source_pb2, source_pb2_grpc

from numaflux.dataplane.udf._base import EMPTY, UDFClient
from numaflux.dataplane.udf._convert import from_timestamp
from numaflux.dataplane.udf._h2grpc import Method
from numaflux.dataplane.udf._stream import BidiStream
from numaflux.dataplane.udf.errors import UDFError, UDFExecutionError, UDFProtocolError
from numaflux.dataplane.udf.serverinfo import ServerInfo, UDFPaths
from numaflux.dataplane.udf.types import SourceMessage, SourceOffset

_SOURCE = source_pb2.DESCRIPTOR.services_by_name["Source"]
_READ_FN = Method(_SOURCE, "ReadFn")
_ACK_FN = Method(_SOURCE, "AckFn")
_READ_HANDSHAKE = source_pb2.ReadRequest(handshake=source_pb2.Handshake(sot=True))
_ACK_HANDSHAKE = source_pb2.AckRequest(handshake=source_pb2.Handshake(sot=True))
_FAILURE = 1  # ReadResponse.Status.Code.FAILURE


@dataclass(frozen=True, slots=True)
class SourcePartitions:
    """Active partitions of the source and, if reported, the total partition count."""

    partitions: list[int]
    total: int | None


def _offsets(offsets: Sequence[SourceOffset]) -> list[Any]:
    return [source_pb2.Offset(offset=o.offset, partition_id=o.partition_id) for o in offsets]


class SourceClient(UDFClient):
    """Client of a user-defined source.

    ``read(n, timeout_ms)`` sends one read request on the ReadFn stream and collects messages until the
    per-read EOT; ``ack(offsets)`` sends one AckFn request and waits for its single response.
    """

    def __init__(
        self,
        paths: UDFPaths | None = None,
        *,
        name: str = "udsource",
        connect_timeout: float = 120.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, connect_timeout=connect_timeout, poll_interval=poll_interval, clock=clock)
        self.paths = paths or UDFPaths()
        self._read: BidiStream | None = None
        self._ack: BidiStream | None = None
        self._read_lock = asyncio.Lock()
        self._ack_lock = asyncio.Lock()

    def _info_path(self) -> Path:
        return self.paths.source_info()

    def _socket_path(self, info: ServerInfo) -> Path:
        return self.paths.source_socket()

    def _make_stub(self, channel: grpc.aio.Channel) -> Any:
        return source_pb2_grpc.SourceStub(channel)

    async def _open_streams(self) -> None:
        self._read = self._open_stream(f"{self.name}.ReadFn", _READ_FN)
        await self._read.handshake(_READ_HANDSHAKE)
        self._ack = self._open_stream(f"{self.name}.AckFn", _ACK_FN)
        await self._ack.handshake(_ACK_HANDSHAKE)

    def _fail_in_flight(self, err: UDFError) -> None:
        self._read = self._ack = None

    async def read(self, num_records: int, timeout_ms: int) -> list[SourceMessage]:
        """One ReadFn round: up to ``num_records`` messages, ended by the UDF's EOT."""
        self._check()
        return await self._detached(self._read_round(num_records, timeout_ms))

    async def _read_round(self, num_records: int, timeout_ms: int) -> list[SourceMessage]:
        async with self._read_lock:
            self._check()
            return await self._read_locked(num_records, timeout_ms)

    async def _read_locked(self, num_records: int, timeout_ms: int) -> list[SourceMessage]:
        stream = self._read
        assert stream is not None
        request = source_pb2.ReadRequest.Request(num_records=num_records, timeout_in_ms=timeout_ms)
        await stream.write(source_pb2.ReadRequest(request=request))
        out: list[SourceMessage] = []
        while True:
            resp = await stream.read()
            status = resp.status
            if status.code == _FAILURE:
                msg = f"read failed: {status.msg or 'no message'}"
                raise self._fail(UDFExecutionError(self.name, msg))
            if resp.HasField("result"):
                r = resp.result
                if not r.offset.offset:
                    raise self._fail(UDFProtocolError(self.name, "read result with an empty offset"))
                out.append(
                    SourceMessage(
                        payload=r.payload,
                        offset=SourceOffset(r.offset.offset, r.offset.partition_id),
                        event_time_ms=from_timestamp(r.event_time),
                        keys=list(r.keys),
                        headers=dict(r.headers),
                    )
                )
            if status.eot:
                return out

    async def ack(self, offsets: Sequence[SourceOffset]) -> None:
        """Acknowledge offsets; returns once the UDF confirmed."""
        if not offsets:
            return
        self._check()
        await self._detached(self._ack_round(offsets))

    async def _ack_round(self, offsets: Sequence[SourceOffset]) -> None:
        async with self._ack_lock:
            self._check()
            stream = self._ack
            assert stream is not None
            request = source_pb2.AckRequest.Request(offsets=_offsets(offsets))
            await stream.write(source_pb2.AckRequest(request=request))
            resp = await stream.read()
            if not resp.result.HasField("success"):
                raise self._fail(UDFProtocolError(self.name, f"ack response without success: {resp!r}"))

    async def nack(self, offsets: Sequence[SourceOffset]) -> None:
        """Negatively acknowledge offsets (unary NackFn)."""
        if not offsets:
            return
        self._check()
        request = source_pb2.NackRequest(request=source_pb2.NackRequest.Request(offsets=_offsets(offsets)))
        try:
            await self._stub.NackFn(request)
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failed(err) from err

    async def pending(self) -> int | None:
        """Messages pending at the source; None when the source reports it as unavailable (negative)."""
        self._check()
        try:
            resp = await self._stub.PendingFn(EMPTY)
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failed(err) from err
        count = int(resp.result.count)
        return None if count < 0 else count

    async def partitions(self) -> SourcePartitions:
        self._check()
        try:
            resp = await self._stub.PartitionsFn(EMPTY)
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failed(err) from err
        result = resp.result
        total = int(result.total_partitions) if result.HasField("total_partitions") else None
        return SourcePartitions(list(result.partitions), total)
