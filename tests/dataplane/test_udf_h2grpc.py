"""The HTTP/2 streaming-call transport against a real gRPC server (grpc.aio, C-core) on a Unix socket.

The server implements ``map.v1.Map/MapFn`` with generic handlers, so each test chooses how it
behaves: echo, abort with a status, end early, send oversized answers, stall its reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from pynumaflow.proto.mapper import map_pb2

from numaflux.dataplane.udf._h2grpc import HIGH_WATER, GrpcConnection, Method, StreamCall

pytestmark = pytest.mark.timeout(60)

MAP_FN = Method(map_pb2.DESCRIPTOR.services_by_name["Map"], "MapFn")
Context = grpc.aio.ServicerContext
Handler = Callable[[AsyncIterator[Any], Context], AsyncIterator[Any]]


@pytest.fixture
async def sock_dir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="nfx-h2-", dir="/tmp") as d:
        yield Path(d)


_SERIALIZE = map_pb2.MapResponse.SerializeToString


@contextlib.asynccontextmanager
async def serving(
    sock: Path, handler: Handler, serializer: Callable[[Any], bytes] | None = _SERIALIZE
) -> AsyncIterator[grpc.aio.Server]:
    """``handler`` serving MapFn; with ``serializer=None`` it yields the answers' bytes itself."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    rpc = grpc.stream_stream_rpc_method_handler(
        handler, request_deserializer=map_pb2.MapRequest.FromString, response_serializer=serializer
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("map.v1.Map", {"MapFn": rpc}),))
    server.add_insecure_port(f"unix://{sock}")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=None)


@contextlib.asynccontextmanager
async def connected(path: str, *, max_message: int) -> AsyncIterator[GrpcConnection]:
    conn = await GrpcConnection.open(path, max_message=max_message)
    try:
        yield conn
    finally:
        conn.close()


def request(i: int, value: bytes = b"v") -> Any:
    req = map_pb2.MapRequest(id=str(i))
    req.request.value = value
    return req


async def echo(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for req in requests:
        resp = map_pb2.MapResponse(id=req.id)
        resp.results.add(value=req.request.value, keys=["k"])
        yield resp


async def read_all(call: StreamCall) -> list[Any]:
    out = []
    while (resp := await call.read()) is not grpc.aio.EOF:
        out.append(resp)
    return out


async def test_batches_round_trip_in_order_and_end_with_eof(sock_dir: Path) -> None:
    sock = sock_dir / "s.sock"
    async with serving(sock, echo), connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(MAP_FN)
        for first in range(0, 3000, 500):
            await call.write_many(request(i, f"value-{i}".encode()) for i in range(first, first + 500))
        got: list[Any] = []
        while len(got) < 3000:
            got.extend(await call.read_many())
        assert [r.id for r in got] == [str(i) for i in range(3000)]
        assert got[1234].results[0].value == b"value-1234"
        await call.done_writing()
        assert await read_all(call) == []
        assert call.done()
        with pytest.raises(grpc.aio.UsageError):
            await call.write(request(0))


async def test_large_messages_pass_flow_control_in_both_directions(sock_dir: Path) -> None:
    # 3 MiB each way, and more queued than HIGH_WATER: the writer waits for WINDOW_UPDATEs.
    sock = sock_dir / "s.sock"
    big = os.urandom(3 << 20)
    async with serving(sock, echo), connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(MAP_FN)
        n = 4
        assert n * len(big) > HIGH_WATER
        await call.write_many(request(i, big) for i in range(n))
        await call.done_writing()
        got = await read_all(call)
        assert [r.id for r in got] == [str(i) for i in range(n)]
        assert all(r.results[0].value == big for r in got)


async def test_abort_status_and_percent_encoded_message_reach_the_reader(sock_dir: Path) -> None:
    async def abort_after_two(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        seen = 0
        async for req in requests:
            yield map_pb2.MapResponse(id=req.id)
            seen += 1
            if seen == 2:
                await context.abort(grpc.StatusCode.INTERNAL, "UDF_EXECUTION_ERROR(map): 100% broken: ✗")

    sock = sock_dir / "s.sock"
    async with serving(sock, abort_after_two), connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(MAP_FN)
        await call.write_many(request(i) for i in range(5))
        # answers sent before the abort are still delivered, then the status
        assert (await call.read()).id == "0"
        assert (await call.read()).id == "1"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.INTERNAL
        assert err.value.details() == "UDF_EXECUTION_ERROR(map): 100% broken: ✗"
        with pytest.raises(grpc.aio.AioRpcError):
            await call.write(request(9))


async def test_unknown_method_is_unimplemented(sock_dir: Path) -> None:
    sock = sock_dir / "s.sock"
    async with serving(sock, echo), connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(Method(map_pb2.DESCRIPTOR.services_by_name["Map"], "IsReady"))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        # the generic handler serves MapFn only
        assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_an_answer_over_the_limit_fails_the_call_with_resource_exhausted(sock_dir: Path) -> None:
    async def amplify(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for req in requests:
            resp = map_pb2.MapResponse(id=req.id)
            resp.results.add(value=req.request.value * 10)
            yield resp

    sock = sock_dir / "s.sock"
    async with serving(sock, amplify), connected(str(sock), max_message=1000) as conn:
        call = conn.call(MAP_FN)
        await call.write(request(1, b"x" * 200))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # the connection still carries new calls
        other = conn.call(MAP_FN)
        await other.write(request(2, b"small"))
        assert (await other.read()).results[0].value == b"small" * 10


async def test_an_undecodable_answer_fails_the_call_not_the_connection(sock_dir: Path) -> None:
    async def garbage(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[bytes]:
        async for req in requests:
            yield b"\xff\xff\xff" if req.id == "bad" else map_pb2.MapResponse(id=req.id).SerializeToString()

    sock = sock_dir / "s.sock"
    async with serving(sock, garbage, serializer=None), connected(str(sock), max_message=64 << 20) as conn:
        bad, good = conn.call(MAP_FN), conn.call(MAP_FN)
        await bad.write(map_pb2.MapRequest(id="bad"))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bad.read()
        assert err.value.code() is grpc.StatusCode.INTERNAL
        assert "error deserializing response" in (err.value.details() or "")
        await good.write(request(3))
        assert (await good.read()).id == "3"


async def test_cancel_resets_the_stream_and_the_server_sees_it(sock_dir: Path) -> None:
    cancelled = asyncio.Event()

    async def wait_forever(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        context.add_done_callback(lambda _ctx: cancelled.set())
        async for req in requests:
            yield map_pb2.MapResponse(id=req.id)

    sock = sock_dir / "s.sock"
    async with serving(sock, wait_forever), connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(MAP_FN)
        await call.write(request(1))
        assert (await call.read()).id == "1"
        assert call.cancel()
        assert not call.cancel()
        await asyncio.wait_for(cancelled.wait(), 10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() is grpc.StatusCode.CANCELLED


async def test_graceful_server_stop_lets_the_call_in_flight_finish_refusing_new_ones(
    sock_dir: Path,
) -> None:
    received = asyncio.Event()

    async def slow_echo(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for req in requests:
            received.set()
            await asyncio.sleep(0.5)
            yield map_pb2.MapResponse(id=req.id)

    sock = sock_dir / "s.sock"
    async with serving(sock, slow_echo) as server, connected(str(sock), max_message=64 << 20) as conn:
        call = conn.call(MAP_FN)
        await call.write(request(1))
        await asyncio.wait_for(received.wait(), 10)  # a call the server has not started is cancelled
        stopping = asyncio.ensure_future(server.stop(grace=10))  # GOAWAY, then waits for the call
        # the answer still arrives after the GOAWAY, then the call ends normally
        assert (await asyncio.wait_for(call.read(), 10)).id == "1"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            conn.call(MAP_FN)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "GOAWAY" in (refused.value.details() or "")
        await call.done_writing()
        assert await asyncio.wait_for(read_all(call), 10) == []
        await asyncio.wait_for(stopping, 10)


async def test_a_long_error_message_fails_the_call_not_the_connection(sock_dir: Path) -> None:
    # a handler's traceback can be long; the trailer must not break the other calls on the connection
    long_message = "UDF_EXECUTION_ERROR(map): " + "traceback line\n" * 7000  # ~100 KiB

    async def abort_at_once(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for req in requests:
            if req.id == "boom":
                await context.abort(grpc.StatusCode.INTERNAL, long_message)
            yield map_pb2.MapResponse(id=req.id)

    sock = sock_dir / "s.sock"
    async with serving(sock, abort_at_once), connected(str(sock), max_message=64 << 20) as conn:
        healthy, failing = conn.call(MAP_FN), conn.call(MAP_FN)
        failing_req = map_pb2.MapRequest(id="boom")
        await failing.write(failing_req)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await failing.read()
        assert err.value.code() is grpc.StatusCode.INTERNAL
        assert err.value.details() == long_message
        await healthy.write(request(7))
        assert (await healthy.read()).id == "7"


async def test_a_request_over_the_limit_fails_the_call_before_sending(sock_dir: Path) -> None:
    sock = sock_dir / "s.sock"
    async with serving(sock, echo), connected(str(sock), max_message=1000) as conn:
        call = conn.call(MAP_FN)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.write(request(1, b"x" * 2000))
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert call.done()


SERVER_PROCESS = """
import asyncio, sys
import grpc
from pynumaflow.proto.mapper import map_pb2

async def echo(requests, context):
    async for req in requests:
        yield map_pb2.MapResponse(id=req.id)

async def main():
    server = grpc.aio.server()
    rpc = grpc.stream_stream_rpc_method_handler(
        echo, request_deserializer=map_pb2.MapRequest.FromString,
        response_serializer=map_pb2.MapResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("map.v1.Map", {"MapFn": rpc}),))
    server.add_insecure_port("unix://" + sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


async def test_server_process_killed_mid_stream_fails_every_call_unavailable(sock_dir: Path) -> None:
    sock = sock_dir / "s.sock"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER_PROCESS, str(sock), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        async with connected(str(sock), max_message=64 << 20) as conn:
            calls = [conn.call(MAP_FN), conn.call(MAP_FN)]
            for i, call in enumerate(calls):
                await call.write(request(i))
                assert (await call.read()).id == str(i)
            reading = asyncio.ensure_future(calls[0].read())
            await asyncio.sleep(0)
            proc.send_signal(signal.SIGKILL)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(reading, 10)
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "connection lost" in (err.value.details() or "")
            with pytest.raises(grpc.aio.AioRpcError):
                await calls[1].write(request(5))
            with pytest.raises(grpc.aio.AioRpcError):
                conn.call(MAP_FN)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)


async def test_nobody_listening_is_an_os_error(sock_dir: Path) -> None:
    with pytest.raises(OSError):
        await GrpcConnection.open(str(sock_dir / "absent.sock"), max_message=1 << 20)
