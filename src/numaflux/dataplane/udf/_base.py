"""Connection lifecycle shared by every UDF client: server-info, dial, IsReady, reconnect.

Each client holds two connections to its UDF's socket: a grpc.aio channel for the unary calls
(``IsReady`` and the like) and an HTTP/2 connection of our own for the long-lived streams, which carry
every message (see ``_h2grpc``)."""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from numaflux.dataplane.udf._h2grpc import GrpcConnection, Method
from numaflux.dataplane.udf._stream import BidiStream
from numaflux.dataplane.udf.errors import UDFConnectionError, UDFError, from_rpc_error
from numaflux.dataplane.udf.serverinfo import ServerInfo, wait_for_server_info

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_SIZE),
    ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
]
EMPTY: Any = empty_pb2.Empty()
T = TypeVar("T")


class UDFClient(abc.ABC):
    """Base of the UDF clients: ``connect()`` waits for the server-info file, dials the socket it
    implies, polls ``IsReady`` until true and opens the client's long-lived stream(s).

    After any :class:`UDFError` the client stays broken (calls re-raise that error) until
    ``reconnect()`` succeeds, which re-reads the server-info file, re-dials and opens new streams.
    """

    def __init__(
        self,
        name: str,
        *,
        connect_timeout: float = 120.0,
        poll_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.connect_timeout = connect_timeout
        self.poll_interval = poll_interval
        self._clock = clock
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._streams_conn: GrpcConnection | None = None
        self._info: ServerInfo | None = None
        self._broken: UDFError | None = UDFConnectionError(name, "not connected")
        self._streams: list[BidiStream] = []
        self._background: set[asyncio.Task[Any]] = set()

    # -- hooks for the concrete clients -------------------------------------------------------
    @abc.abstractmethod
    def _info_path(self) -> Path: ...

    @abc.abstractmethod
    def _socket_path(self, info: ServerInfo) -> Path: ...

    @abc.abstractmethod
    def _make_stub(self, channel: grpc.aio.Channel) -> Any: ...

    @abc.abstractmethod
    async def _open_streams(self) -> None:
        """Open and handshake the long-lived stream(s); raise UDFError on failure."""

    @abc.abstractmethod
    def _fail_in_flight(self, err: UDFError) -> None:
        """Fail everything in flight with ``err`` and forget the streams (they are being closed)."""

    # -- public lifecycle ---------------------------------------------------------------------
    @property
    def server_info(self) -> ServerInfo | None:
        """The server-info read by the last successful connect."""
        return self._info

    @property
    def connected(self) -> bool:
        return self._broken is None

    async def connect(self) -> None:
        """Wait for the UDF (server-info + IsReady) and open the stream; UDFConnectionError on timeout."""
        if self._channel is not None:
            await self._teardown(UDFConnectionError(self.name, "reconnecting"))
        deadline = self._clock() + self.connect_timeout
        info = await wait_for_server_info(
            self._info_path(),
            max_wait=self.connect_timeout,
            poll_interval=self.poll_interval,
            clock=self._clock,
        )
        self._info = info
        socket = self._socket_path(info)
        channel = grpc.aio.insecure_channel(f"unix://{socket}", options=GRPC_OPTIONS)
        self._channel = channel
        self._stub = self._make_stub(channel)
        try:
            await self._wait_ready(deadline, socket)
            try:
                self._streams_conn = await GrpcConnection.open(str(socket), max_message=MAX_MESSAGE_SIZE)
            except OSError as err:
                raise UDFConnectionError(self.name, f"cannot connect to {socket}: {err}") from err
            self._broken = None
            await self._open_streams()
        except BaseException as err:
            failure = err if isinstance(err, UDFError) else UDFConnectionError(self.name, repr(err))
            await self._teardown(failure)
            raise

    async def reconnect(self) -> None:
        """Drop the current channel and streams, then :meth:`connect` again (e.g. after a restart)."""
        await self._teardown(UDFConnectionError(self.name, "reconnecting"))
        await self.connect()

    async def close(self) -> None:
        await self._teardown(UDFConnectionError(self.name, "client closed"))

    async def is_ready(self, probe_timeout: float = 1.0) -> bool:
        """One ``IsReady`` probe (for /sidecar-livez style checks); False on any failure."""
        if self._stub is None:
            return False
        try:
            resp = await self._stub.IsReady(EMPTY, timeout=probe_timeout)
        except grpc.aio.AioRpcError:
            return False
        return bool(resp.ready)

    # -- helpers for subclasses ---------------------------------------------------------------
    def _check(self) -> None:
        if self._broken is not None:
            raise self._broken

    def _open_stream(self, name: str, method: Method) -> BidiStream:
        """Start a streaming call of ``method`` on the streams connection."""
        conn = self._streams_conn
        if conn is None:
            raise self._fail(UDFConnectionError(name, "not connected"))
        try:
            call = conn.call(method)
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failed(err) from err
        stream = BidiStream(name, call, self._fail)
        self._streams.append(stream)
        return stream

    def _fail(self, err: UDFError) -> UDFError:
        """Mark the client broken (first error wins), fail the in-flight work, close the streams."""
        if self._broken is None:
            self._broken = err
            self._close_all(err)
        return self._broken

    def _close_all(self, err: UDFError) -> list[BidiStream]:
        self._fail_in_flight(err)
        streams, self._streams = self._streams, []
        for stream in streams:
            stream.close()
        return streams

    async def _detached(self, exchange: Coroutine[Any, Any, T]) -> T:
        """Run one stream exchange so that cancelling the caller cannot cut it in half.

        A cancelled grpc.aio read or write cancels the whole RPC (and pynumaflow's async servers exit
        on a cancelled stream), and half an exchange would desynchronise the stream.  So the exchange
        runs as its own task; a cancelled caller stops waiting and the exchange completes in the
        background, its result dropped.
        """
        task = asyncio.create_task(exchange)
        self._background.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the failure already reached the caller or the client state

    def _rpc_failed(self, err: grpc.aio.AioRpcError) -> UDFError:
        return self._fail(from_rpc_error(self.name, err))

    async def _wait_ready(self, deadline: float, socket: Path) -> None:
        last = "no answer"
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                msg = f"{socket} not ready within {self.connect_timeout}s: {last}"
                raise UDFConnectionError(self.name, msg)
            try:
                resp = await self._stub.IsReady(EMPTY, timeout=min(1.0, remaining))
                if resp.ready:
                    return
                last = "IsReady returned false"
            except grpc.aio.AioRpcError as err:
                last = f"{err.code().name}: {err.details()}"
            await asyncio.sleep(self.poll_interval)

    async def _teardown(self, err: UDFError) -> None:
        if self._broken is None:
            self._broken = err
        streams = self._close_all(err)
        channel, self._channel, self._stub = self._channel, None, None
        conn, self._streams_conn = self._streams_conn, None
        # Closing the connection would cancel the streams (and make pynumaflow's async servers exit):
        # let them end first.
        await asyncio.gather(*(stream.drained() for stream in streams))
        if conn is not None:
            conn.close()
        if channel is not None:
            await channel.close()
