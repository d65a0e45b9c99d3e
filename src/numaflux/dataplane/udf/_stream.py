"""A long-lived bidi stream: handshake, writes, a reader task that dispatches responses, and a
graceful close.

Closing never cancels a live RPC first: pynumaflow's async servers treat a cancelled stream as a
shutdown signal and exit.  A closed stream is half-closed (the UDF finishes and ends it normally) and
only cancelled if it has not ended within ``DRAIN_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from numaflux.dataplane.udf._h2grpc import StreamCall
from numaflux.dataplane.udf.errors import UDFConnectionError, UDFError, UDFProtocolError, from_rpc_error

DRAIN_TIMEOUT = 5.0


class PendingBatch:
    """Results of one submitted batch, completed when every id has been answered."""

    __slots__ = ("future", "remaining", "results")

    def __init__(self, size: int) -> None:
        self.results: dict[str, Any] = {}
        self.remaining = size
        self.future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def fail(self, err: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(err)
            # The caller may already have given up (cancelled); don't warn about an unretrieved error.
            self.future.exception()


class BidiStream:
    """Wraps a stream-stream call (:class:`StreamCall`, grpc.aio's interface); every failure becomes a
    :class:`UDFError`.

    ``on_failure`` is told about failures only while the stream is open, so a stream being drained
    after a reconnect can never mark the new connection broken.
    """

    def __init__(self, name: str, call: StreamCall, on_failure: Callable[[UDFError], UDFError]) -> None:
        self.name = name
        self.call = call
        self._on_failure = on_failure
        self._reader: asyncio.Task[None] | None = None
        self._drain: asyncio.Task[None] | None = None
        self._closed = False
        # Batches from concurrent callers take turns, each written back to back.
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    def _failure(self, err: UDFError) -> UDFError:
        return err if self._closed else self._on_failure(err)

    def _rpc_failure(self, err: grpc.aio.AioRpcError) -> UDFError:
        return self._failure(from_rpc_error(self.name, err))

    async def handshake(self, request: Any) -> Any:
        """Send the start-of-transmission message and require ``handshake.sot`` in the first reply."""
        await self.write(request)
        resp = await self.read()
        if not (resp.HasField("handshake") and resp.handshake.sot):
            raise self._failure(UDFProtocolError(self.name, f"invalid handshake response: {resp!r}"))
        return resp

    async def write(self, message: Any) -> None:
        await self.write_all((message,))

    async def write_all(self, messages: Iterable[Any]) -> None:
        """Write messages back to back, not interleaved with other callers' writes."""
        async with self._write_lock:
            if self._closed:
                raise UDFConnectionError(self.name, "stream closed")
            try:
                await self.call.write_many(messages)
            except grpc.aio.AioRpcError as err:
                raise self._rpc_failure(err) from err
            except grpc.aio.UsageError as err:
                raise self._failure(UDFConnectionError(self.name, f"stream is closed: {err}")) from err

    async def read(self) -> Any:
        """Next response (lock-step use: handshake, or clients without a reader task)."""
        try:
            async with self._read_lock:
                resp = await self.call.read()
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failure(err) from err
        if resp is grpc.aio.EOF:
            raise self._failure(UDFConnectionError(self.name, "UDF closed the stream"))
        return resp

    def start_reader(self, on_response: Callable[[Any], None]) -> None:
        """Read responses in a task until the stream ends; ``on_response`` may raise UDFError."""
        self._reader = asyncio.create_task(self._read_loop(on_response), name=f"udf-reader-{self.name}")

    async def _read_loop(self, on_response: Callable[[Any], None]) -> None:
        read_many = self.call.read_many
        try:
            while True:
                responses = await read_many()
                if not responses:
                    raise UDFConnectionError(self.name, "UDF closed the stream")
                for resp in responses:
                    if self._closed:  # while draining, answers are read and discarded
                        break
                    on_response(resp)
        except grpc.aio.AioRpcError as err:
            self._rpc_failure(err)
        except UDFError as err:
            self._failure(err)
        except Exception as err:  # a malformed response must fail the stream, not end it silently
            self._failure(UDFProtocolError(self.name, f"cannot handle response: {err!r}"))

    def close(self) -> None:
        """Stop using the stream: half-close it now, cancel it if it has not ended by DRAIN_TIMEOUT."""
        if self._closed:
            return
        self._closed = True
        self._drain = asyncio.create_task(self._half_close(), name=f"udf-drain-{self.name}")

    async def drained(self) -> None:
        """Wait until a closed stream has ended (gracefully or by cancellation)."""
        if self._drain is not None:
            await asyncio.shield(self._drain)

    async def _half_close(self) -> None:
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                async with self._write_lock:
                    if not self.call.done():
                        await self.call.done_writing()
                if self._reader is None:
                    # Lock-step stream: after the current caller, nobody reads; discard what is left.
                    async with self._read_lock:
                        while await self.call.read() is not grpc.aio.EOF:
                            pass
                else:
                    await self._reader
        except (TimeoutError, grpc.aio.AioRpcError, grpc.aio.UsageError):
            pass  # already dead, or not ending by itself: cancelled below
        finally:
            self.call.cancel()
            if self._reader is not None and not self._reader.done():
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
