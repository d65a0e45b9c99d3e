"""UDF round trip: numaflux's MapClient vs a raw grpc.aio stub loop, both against pynumaflow's
MapAsyncServer (the bundled map-cat handler), fresh server per run, in the same process run.

usage: python -m benchmarks.udf_roundtrip [N]   (default 50000 messages of 100 bytes)
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, timestamp_pb2
from pynumaflow.proto.mapper import map_pb2, map_pb2_grpc

from numaflux.dataplane.udf import MapClient, UDFDatum, UDFPaths
from numaflux.dataplane.udf.serverinfo import wait_for_server_info

BATCH = 500
IN_FLIGHT = 2  # batches outstanding at once, as a forwarder with read-ahead keeps them
PAYLOAD = b"x" * 100
OPTIONS = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
SERVER = (
    "import sys; from pynumaflow.mapper import MapAsyncServer; from numaflux.udfs.map_cat import handler; "
    "MapAsyncServer(handler, sock_path=sys.argv[1], server_info_file=sys.argv[2]).start()"
)


class Server:
    """A fresh pynumaflow MapAsyncServer in a temporary directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nfx-bench-", dir="/tmp"))
        self.sock = self.dir / "map.sock"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(self.sock), str(self.dir / "mapper-server-info")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def raw_round_trip(server: Server, n: int) -> tuple[float, float]:
    """Baseline: pynumaflow's stubs, handshake, one writer task and a reader, nothing else."""
    await wait_for_server_info(server.dir / "mapper-server-info", max_wait=30)  # not timed
    channel = grpc.aio.insecure_channel(f"unix://{server.sock}", options=OPTIONS)
    stub: Any = map_pb2_grpc.MapStub(channel)
    assert (await stub.IsReady(empty_pb2.Empty())).ready
    ts = timestamp_pb2.Timestamp(seconds=int(time.time()))
    start, cpu = time.perf_counter(), time.process_time()
    call = stub.MapFn()
    await call.write(map_pb2.MapRequest(handshake=map_pb2.Handshake(sot=True)))
    assert (await call.read()).handshake.sot

    async def writer() -> None:
        for i in range(n):
            body = map_pb2.MapRequest.Request(keys=["k"], value=PAYLOAD, event_time=ts, watermark=ts)
            await call.write(map_pb2.MapRequest(id=str(i), request=body))

    task = asyncio.create_task(writer())
    ids: set[str] = set()
    while len(ids) < n:
        ids.add((await call.read()).id)
    await task
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    call.cancel()
    await channel.close()
    return n / elapsed, cpu / n * 1e6


async def client_round_trip(server: Server, n: int) -> tuple[float, float]:
    """numaflux: MapClient.map_batch in batches of BATCH with IN_FLIGHT batches outstanding."""
    client = MapClient(UDFPaths(server.dir), connect_timeout=30)
    await client.connect()
    now = int(time.time() * 1000)
    queue: asyncio.Queue[list[UDFDatum]] = asyncio.Queue()
    for first in range(0, n, BATCH):
        queue.put_nowait(
            [
                UDFDatum(id=str(i), value=PAYLOAD, keys=["k"], event_time_ms=now, watermark_ms=now)
                for i in range(first, min(first + BATCH, n))
            ]
        )
    answered = 0

    async def worker() -> None:
        nonlocal answered
        while not queue.empty():
            batch = queue.get_nowait()
            out = await client.map_batch(batch)
            answered += len(out)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.close()
    assert answered == n, f"{answered} of {n} answered"
    return n / elapsed, cpu / n * 1e6


Sample = tuple[float, float]  # msgs/s, client CPU microseconds per message


async def measure(n: int, rounds: int) -> list[tuple[Sample, Sample]]:
    """Paired rounds (raw, then numaflux, each on a fresh server): load on a shared machine drifts,
    so each pair is compared with itself and the median pair ratio is reported."""
    pairs = []
    for _ in range(rounds):
        with Server() as server:
            raw = await raw_round_trip(server, n)
        with Server() as server:
            ours = await client_round_trip(server, n)
        pairs.append((raw, ours))
    return pairs


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 50_000
    rounds = int(os.environ.get("NUMAFLUX_BENCH_ROUNDS", "3"))
    pairs = asyncio.run(measure(n, rounds))
    ratio = statistics.median(ours[0] / raw[0] for raw, ours in pairs)
    print(f"== UDF round trip: {n} msgs x {len(PAYLOAD)} B, MapAsyncServer, {rounds} paired rounds")
    print(f"   machine: {platform.node()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    for (raw, raw_cpu), (ours, our_cpu) in pairs:
        print(
            f"   raw stub loop {raw:6,.0f} msgs/s ({raw_cpu:3.0f} us cpu/msg)"
            f" | MapClient {ours:6,.0f} msgs/s ({our_cpu:3.0f} us cpu/msg) | {ours / raw:.2f}x"
        )
    print(f"   (MapClient: batches of {BATCH}, {IN_FLIGHT} in flight)")
    print(f"   median ratio: {ratio:.2f}x  (target >= 0.9x)")


if __name__ == "__main__":
    main()
