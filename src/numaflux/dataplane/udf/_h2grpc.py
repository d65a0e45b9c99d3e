"""Streaming gRPC calls over one HTTP/2 connection (h2) on a UDF's Unix socket.

The UDF streams carry every message a vertex processes, and grpc.aio costs ~150 µs of client CPU per
message on them (an awaited write and read each, through its C-core completion queue): as much as the
pynumaflow server spends answering.  Here a batch of requests becomes one buffer of length-prefixed
messages written in as few DATA frames as flow control allows, and responses are split out of whatever
DATA arrives, so the per-message cost is the protobuf encode and decode.

The wire contract stays pynumaflow's: method paths and response types come from its generated service
descriptors, the framing is gRPC over HTTP/2 (PROTOCOL-HTTP2), and a call quacks like grpc.aio's
stream-stream call (``write``, ``read`` → message or ``grpc.aio.EOF``, ``done_writing``, ``cancel``,
``done``); a call that ends with a non-OK status raises ``grpc.aio.AioRpcError`` with that status,
so failures are classified exactly as before.  Unary calls (``IsReady``, ``PendingFn``, ...) stay on
grpc.aio: they are rare.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import struct
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import unquote

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

_PREFIX = struct.Struct(">BI")  # compressed flag, message length
# Our receive windows: large, so the server never waits for a WINDOW_UPDATE within a batch.
RECEIVE_WINDOW = 16 * 1024 * 1024
MAX_FRAME = 1024 * 1024
# Trailers carry a UDF's error message (with its traceback); h2's default limit is 64 KiB.
MAX_HEADER_LIST = 1024 * 1024
# A writer waits while more than this is queued behind the peer's flow-control window.
HIGH_WATER = 1024 * 1024
# HTTP status → gRPC code for responses that are not gRPC at all (gRPC's HTTP-to-gRPC mapping).
_HTTP_CODES = {
    400: grpc.StatusCode.INTERNAL,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_TRUNCATED = "stream ended in the middle of a message"
_RESET_CODES = {
    h2.errors.ErrorCodes.CANCEL: grpc.StatusCode.CANCELLED,
    h2.errors.ErrorCodes.REFUSED_STREAM: grpc.StatusCode.UNAVAILABLE,
    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class Method:
    """A streaming method of a generated gRPC service: its HTTP/2 path and response class."""

    __slots__ = ("path", "response")

    def __init__(self, service: ServiceDescriptor, name: str) -> None:
        method = service.methods_by_name[name]
        self.path = f"/{service.full_name}/{method.name}"
        self.response: Any = message_factory.GetMessageClass(method.output_type)


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def _int(value: bytes, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


class StreamCall:
    """One bidi streaming call; see the module docstring for the interface it shares with grpc.aio."""

    def __init__(self, conn: GrpcConnection, stream_id: int, method: Method, max_message: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self._parse = method.response.FromString
        self._max_message = max_message
        self._inbound = bytearray()
        self._messages: collections.deque[Any] = collections.deque()
        self._outbound = bytearray()
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._half_closed = False
        self._end_sent = False
        self._status: grpc.StatusCode | None = None
        self._details = ""

    # -- grpc.aio-like interface ----------------------------------------------------------------
    def done(self) -> bool:
        return self._status is not None

    async def write(self, message: Any) -> None:
        await self.write_many((message,))

    async def write_many(self, messages: Iterable[Any]) -> None:
        """Queue messages back to back; waits while too much is queued behind flow control."""
        self._check_writable()
        parts = []
        for message in messages:
            payload = message.SerializeToString()
            if len(payload) > self._max_message:
                detail = f"sent message larger than max ({len(payload)} vs. {self._max_message})"
                self._abort(grpc.StatusCode.RESOURCE_EXHAUSTED, detail)
                raise rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, detail)
            parts.append(_PREFIX.pack(0, len(payload)))
            parts.append(payload)
        self._outbound += b"".join(parts)
        self._conn.flush(self)
        while len(self._outbound) > HIGH_WATER:
            await self._wait_writable()
            self._check_writable()

    async def done_writing(self) -> None:
        """Half-close once everything queued has been sent."""
        if self._half_closed or self.done():
            return
        self._half_closed = True
        while self._outbound and not self.done():
            await self._wait_writable()
        self._conn.flush(self)

    async def read(self) -> Any:
        """The next response, ``grpc.aio.EOF`` after an OK end; AioRpcError after any other end."""
        while not self._messages:
            if self._status is not None:
                if self._status is grpc.StatusCode.OK:
                    return grpc.aio.EOF
                raise rpc_error(self._status, self._details)
            if self._readable is not None and not self._readable.done():
                raise grpc.aio.UsageError("another read() is already waiting on this call")
            self._readable = self._conn.loop.create_future()
            await self._readable
        return self._messages.popleft()

    async def read_many(self) -> list[Any]:
        """Every response received so far (at least one), ``[]`` after an OK end; raises like read."""
        first = await self.read()
        if first is grpc.aio.EOF:
            return []
        out = [first]
        messages = self._messages
        while messages:
            out.append(messages.popleft())
        return out

    def cancel(self) -> bool:
        """Reset the stream (RST_STREAM CANCEL); False if the call had already ended."""
        if self.done():
            return False
        self._abort(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")
        return True

    def _abort(self, code: grpc.StatusCode, details: str) -> None:
        """End the call from our side: RST_STREAM CANCEL to the server, ``code`` to our readers."""
        self._conn.reset(self)
        self.finish(code, details)

    # -- driven by the connection -----------------------------------------------------------------
    async def _wait_writable(self) -> None:
        if self._writable is not None and not self._writable.done():
            raise grpc.aio.UsageError("another write is already waiting on this call")
        self._writable = self._conn.loop.create_future()
        await self._writable

    def _check_writable(self) -> None:
        if self._status is not None:
            if self._status is grpc.StatusCode.OK:
                raise grpc.aio.UsageError("the call has already finished")
            raise rpc_error(self._status, self._details)
        if self._half_closed:
            raise grpc.aio.UsageError("done_writing() was already called")

    def take_outbound(self, size: int) -> bytes:
        chunk = bytes(self._outbound[:size])
        del self._outbound[:size]
        return chunk

    @property
    def outbound(self) -> int:
        return len(self._outbound)

    def end_pending(self) -> bool:
        """True when the half-close can go out now (requested, and nothing left queued)."""
        return self._half_closed and not self._end_sent and not self._outbound and not self.done()

    def end_sent(self) -> None:
        self._end_sent = True

    def writable(self) -> None:
        waiter = self._writable
        if waiter is not None and not waiter.done() and self._outbound_low():
            waiter.set_result(None)

    def _outbound_low(self) -> bool:
        return self.done() or len(self._outbound) <= (0 if self._half_closed else HIGH_WATER)

    def headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Response headers or trailers: the HTTP status and, when present, the gRPC status."""
        code: grpc.StatusCode | None = None
        details = ""
        http_status = 200  # trailers carry none; a non-200 response already ended the call
        for name, value in headers:
            if name == b":status":
                http_status = _int(value, 0)
            elif name == b"grpc-status":
                code = _CODES.get(_int(value, -1), grpc.StatusCode.UNKNOWN)
            elif name == b"grpc-message":
                details = unquote(value.decode("utf-8", "replace"))
        if http_status != 200 and code is None:
            code = _HTTP_CODES.get(http_status, grpc.StatusCode.UNKNOWN)
            details = f"HTTP status {http_status}"
        if code is grpc.StatusCode.OK and self._inbound:
            code, details = grpc.StatusCode.INTERNAL, _TRUNCATED
        if code is not None:
            self.finish(code, details)

    def data(self, data: bytes) -> None:
        """DATA for this stream: split the length-prefixed messages out of it."""
        buf = self._inbound
        buf += data
        pos, size = 0, len(buf)
        parse, messages = self._parse, self._messages
        while size - pos >= 5:
            compressed, length = _PREFIX.unpack_from(buf, pos)
            if compressed:
                self._abort(grpc.StatusCode.INTERNAL, "compressed message, no compression negotiated")
                return
            if length > self._max_message:
                detail = f"received message larger than max ({length} vs. {self._max_message})"
                self._abort(grpc.StatusCode.RESOURCE_EXHAUSTED, detail)
                return
            end = pos + 5 + length
            if end > size:
                break
            try:
                messages.append(parse(bytes(buf[pos + 5 : end])))
            except Exception as err:  # undecodable protobuf: the call fails like grpc.aio's would
                self._abort(grpc.StatusCode.INTERNAL, f"error deserializing response: {err!r}")
                return
            pos = end
        if pos:
            del buf[:pos]
        self._wake_reader()

    def ended(self) -> None:
        """The peer ended the stream; without a gRPC status that is a protocol error."""
        if self._status is None:
            self.finish(
                grpc.StatusCode.INTERNAL,
                _TRUNCATED if self._inbound else "stream ended without a grpc-status",
            )

    def reset_by_peer(self, error_code: int) -> None:
        code = _RESET_CODES.get(error_code, grpc.StatusCode.INTERNAL)  # type: ignore[call-overload]
        self.finish(code, f"stream reset by the server (HTTP/2 error code {error_code})")

    def finish(self, code: grpc.StatusCode, details: str) -> None:
        """The call's end: the first status wins; readers and writers are woken."""
        if self._status is not None:
            return
        self._status, self._details = code, details
        self._outbound.clear()
        self._conn.forget(self)
        self._wake_reader()
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter = self._readable
        if waiter is not None and not waiter.done() and (self._messages or self._status is not None):
            waiter.set_result(None)


def _survive_goaway(conn: h2.connection.H2Connection) -> None:
    """h2 closes its connection state at any GOAWAY received (every later frame is a protocol error).
    RFC 9113 §6.8 lets streams up to the GOAWAY's last stream id finish, and gRPC servers stopping with a
    grace period rely on it: keep the connection open on a GOAWAY; :meth:`GrpcConnection._goaway`
    decides what ends."""
    machine = conn.state_machine
    open_ = h2.connection.ConnectionState.CLIENT_OPEN
    machine._transitions = {
        **machine._transitions,
        (open_, h2.connection.ConnectionInputs.RECV_GOAWAY): (None, open_),
    }


class GrpcConnection(asyncio.Protocol):
    """An HTTP/2 connection (prior knowledge, no TLS) to a gRPC server, carrying streaming calls."""

    def __init__(self, max_message: int) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        conn = self._h2 = h2.connection.H2Connection(config=config)
        # Our settings go out in the connection preface and hold from the first frame received (the
        # server cannot send under them before it has read them).
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        conn.max_inbound_frame_size = MAX_FRAME
        conn.decoder.max_header_list_size = MAX_HEADER_LIST
        _survive_goaway(conn)
        self._max_message = max_message
        self._calls: dict[int, StreamCall] = {}
        self._transport: asyncio.Transport | None = None
        self._lost: str | None = None
        self._draining: str | None = None  # why new calls are refused (a graceful GOAWAY)
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, socket_path: str, *, max_message: int) -> GrpcConnection:
        """Connect to the Unix socket and send the connection preface; OSError if nobody listens."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_unix_connection(lambda: cls(max_message), socket_path)
        return protocol

    def call(self, method: Method) -> StreamCall:
        """Start a streaming call (its request headers go out now)."""
        if self._lost is not None or self._transport is None:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"connection lost: {self._lost or 'not connected'}")
        if self._draining is not None:
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, self._draining)
        conn = self._h2
        stream_id = conn.get_next_available_stream_id()
        headers = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", method.path.encode()),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", b"numaflux-udf-client"),
        ]
        conn.send_headers(stream_id, headers)
        call = StreamCall(self, stream_id, method, self._max_message)
        self._calls[stream_id] = call
        self._send()
        return call

    def close(self) -> None:
        """GOAWAY and close; calls still open end UNAVAILABLE."""
        if self._transport is None or self._lost is not None:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection()
            self._send()
        self._fail("connection closed by the client")

    # -- asyncio.Protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        conn = self._h2
        conn.initiate_connection()
        conn.increment_flow_control_window(RECEIVE_WINDOW)
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(f"socket closed: {exc!r}" if exc else "socket closed by the server")
        self._transport = None

    def data_received(self, data: bytes) -> None:
        conn = self._h2
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            self._fail(f"HTTP/2 protocol error: {err}")
            return
        calls = self._calls
        flush = False
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                call = calls.get(event.stream_id)
                if call is not None:
                    call.data(event.data)
            elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                call = calls.get(event.stream_id)
                if call is not None:
                    call.headers(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                call = calls.get(event.stream_id)
                if call is not None:
                    call.ended()
                self._close_local_side(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                call = calls.get(event.stream_id)
                if call is not None:
                    call.reset_by_peer(event.error_code)
            elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                flush = True
            elif isinstance(event, h2.events.ConnectionTerminated) and not self._goaway(event):
                return
        if flush:
            for call in list(calls.values()):
                self._flush_data(call)
        self._send()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> bool:
        """A graceful GOAWAY (a server stopping with a grace period) lets the calls it accepted finish
        and refuses new ones; any other ends the connection.  False when the connection is gone."""
        reason = f"server sent GOAWAY (HTTP/2 error code {event.error_code})"
        if event.error_code != h2.errors.ErrorCodes.NO_ERROR or event.last_stream_id is None:
            self._fail(reason)
            return False
        self._draining = reason
        for stream_id, call in list(self._calls.items()):
            if stream_id > event.last_stream_id:
                call.finish(grpc.StatusCode.UNAVAILABLE, f"{reason}: the call was not accepted")
        return True

    # -- driven by the calls --------------------------------------------------------------------
    def flush(self, call: StreamCall) -> None:
        """Send what flow control allows of the call's queued data (and its half-close when due)."""
        if self._lost is not None:
            call.finish(grpc.StatusCode.UNAVAILABLE, f"connection lost: {self._lost}")
            return
        self._flush_data(call)
        self._send()

    def reset(self, call: StreamCall) -> None:
        if self._lost is None and call.stream_id in self._calls:
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(call.stream_id, h2.errors.ErrorCodes.CANCEL)
            self._send()

    def _close_local_side(self, stream_id: int) -> None:
        """After the server's end, tell it we send nothing more (RST_STREAM NO_ERROR, as RFC 9113
        §8.1 allows), so the stream is closed on both sides; a stream we ended already is closed."""
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)

    def forget(self, call: StreamCall) -> None:
        self._calls.pop(call.stream_id, None)
        if self._draining is not None and not self._calls:
            self._fail(self._draining)

    def _flush_data(self, call: StreamCall) -> None:
        conn, stream_id = self._h2, call.stream_id
        try:
            while call.outbound:
                window = conn.local_flow_control_window(stream_id)
                size = min(window, conn.max_outbound_frame_size, call.outbound)
                if size <= 0:
                    break
                conn.send_data(stream_id, call.take_outbound(size))
            if call.end_pending():
                conn.end_stream(stream_id)
                call.end_sent()
        except h2.exceptions.StreamClosedError:
            # The server ended the call first; its status arrives (or arrived) with the trailers.
            call.take_outbound(call.outbound)
        call.writable()

    def _send(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _fail(self, reason: str) -> None:
        self._lose(reason)
        if self._transport is not None:
            self._transport.close()

    def _lose(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
        calls, self._calls = self._calls, {}
        for call in calls.values():
            call.finish(grpc.StatusCode.UNAVAILABLE, f"connection lost: {reason}")
