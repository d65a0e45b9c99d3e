"""Pipeline end to end: generator → pynumaflow async map (map-cat) → blackhole, every vertex a real
`numaflux vertex` process on one nats-server, against a raw pynumaflow round trip (pynumaflow's stubs,
one stream, no platform, on the same event loop as the vertices) in the same run; plus the RSS of each
vertex process.

The pipeline rate is the sink's ack rate over `n` messages after a warm-up, with the generator running
ahead (backpressure keeps the map vertex busy). Payloads are 100 bytes in both (generator valueBlob).

usage: python -m benchmarks.pipeline_e2e [N]   (default 30000 messages; NUMAFLUX_BENCH_ROUNDS=3)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import uvloop

from benchmarks.udf_roundtrip import PAYLOAD, Server, raw_round_trip
from numaflux.api import Vertex
from numaflux.dataplane.config import encode_vertex
from numaflux.isb import connect, create_buckets, create_buffers
from numaflux.isb.config import buffer_name, edge_bucket_name
from numaflux.isb.server import NatsServer, free_port

NS, PL = "bench", "e2e"
LIMITS = {"readBatchSize": 500, "readTimeout": "1s"}
WARMUP = 5000
LOOP = os.environ.get("NUMAFLUX_EVENT_LOOP", "uvloop")


def vertex(name: str, body: dict[str, Any], from_: str | None, to: str | None) -> Vertex:
    types = {"source": "Source", "udf": "MapUDF", "sink": "Sink"}
    kinds = {"in": "source", "cat": "udf", "out": "sink"}

    def edge(a: str, b: str) -> dict[str, Any]:
        return {
            "from": a,
            "to": b,
            "fromVertexType": types[kinds[a]],
            "toVertexType": types[kinds[b]],
            "toVertexLimits": LIMITS,
            "fromVertexLimits": LIMITS,
        }

    spec = {"name": name, **body, "pipelineName": PL, "limits": LIMITS}
    spec["fromEdges"] = [edge(from_, name)] if from_ else []
    spec["toEdges"] = [edge(name, to)] if to else []
    doc = {"apiVersion": "numaflow.numaproj.io/v1alpha1", "kind": "Vertex"}
    return Vertex.model_validate({**doc, "metadata": {"name": f"{PL}-{name}", "namespace": NS}, "spec": spec})


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(x.rpartition(" ")[2]) for x in text.splitlines() if x.startswith(name + "{"))


async def pipeline_round(nats: NatsServer, n: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """One fresh pipeline; returns (msgs/s at the sink, RSS MiB per vertex process, CPU µs per message
    per process: vertices, the UDF server and nats-server)."""
    nc = await connect(nats.url)
    js = nc.jetstream()
    buffers = [buffer_name(NS, PL, "cat", 0), buffer_name(NS, PL, "out", 0)]
    buckets = [edge_bucket_name(NS, PL, "in", "cat"), edge_bucket_name(NS, PL, "cat", "out")]
    for b in buffers:
        with contextlib.suppress(Exception):  # absent on the first round
            await js.delete_stream(b)
    await create_buffers(js, buffers)
    await create_buckets(js, buckets)
    await nc.close()
    blob = base64.b64encode(PAYLOAD).decode()
    vertices = {
        "out": vertex("out", {"sink": {"blackhole": {}}}, "cat", None),
        "cat": vertex("cat", {"udf": {"container": {"image": "map-cat"}}}, "in", "out"),
        "in": vertex(
            "in", {"source": {"generator": {"rpu": 100000, "duration": "1s", "valueBlob": blob}}}, None, "cat"
        ),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports = {name: free_port() for name in vertices}
    with Server() as udf:
        try:
            for name, v in vertices.items():
                env = {
                    **{k: x for k, x in os.environ.items() if not k.startswith(("NUMAFLOW_", "NUMAFLUX_"))},
                    "NUMAFLOW_VERTEX_OBJECT": encode_vertex(v),
                    "NUMAFLOW_ISBSVC_JETSTREAM_URL": nats.url,
                    "NUMAFLUX_UDF_DIR": str(udf.dir),
                    "NUMAFLUX_METRICS_PORT": str(ports[name]),
                    "NUMAFLUX_LOG_LEVEL": "WARNING",
                    "NUMAFLUX_EVENT_LOOP": LOOP,
                }
                procs[name] = subprocess.Popen(  # noqa: ASYNC220 -- started once, not timed
                    [sys.executable, "-m", "numaflux.dataplane"], env=env, stdout=subprocess.DEVNULL
                )
            port = ports["out"]
            deadline = time.monotonic() + 120
            while True:
                try:
                    if metric(port, "forwarder_ack_total") >= WARMUP:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("pipeline did not warm up within 120 s")
                await asyncio.sleep(0.2)
            watched = {name: psutil.Process(p.pid) for name, p in procs.items()}
            watched["udf"] = psutil.Process(udf.proc.pid)
            if nats.pid is not None:
                watched["nats"] = psutil.Process(nats.pid)
            cpu0 = {k: sum(p.cpu_times()[:2]) for k, p in watched.items()}
            start, first = time.perf_counter(), metric(port, "forwarder_ack_total")
            while (done := metric(port, "forwarder_ack_total")) < first + n:  # noqa: ASYNC110 -- polling metrics
                await asyncio.sleep(0.1)
            rate = (done - first) / (time.perf_counter() - start)
            cpu = {k: (sum(p.cpu_times()[:2]) - cpu0[k]) / (done - first) * 1e6 for k, p in watched.items()}
            rss = {name: psutil.Process(p.pid).memory_info().rss / 2**20 for name, p in procs.items()}
            return rate, rss, cpu
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()


Result = tuple[float, float, float, dict[str, float], dict[str, float]]


async def measure(n: int, rounds: int) -> list[Result]:
    store = Path(tempfile.mkdtemp(prefix="nfx-bench-e2e-"))
    nats = NatsServer(store)
    nats.start()
    try:
        out = []
        for _ in range(rounds):
            with Server() as server:
                raw, raw_cpu = await raw_round_trip(server, n)
            rate, rss, cpu = await pipeline_round(nats, n)
            out.append((raw, raw_cpu, rate, rss, cpu))
        return out
    finally:
        nats.stop()
        shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 30_000
    rounds = int(os.environ.get("NUMAFLUX_BENCH_ROUNDS", "3"))
    # the raw loop runs on the event loop the vertex processes use (uvloop unless told otherwise):
    # grpc.aio costs ~15 % more client CPU per message on the stdlib loop
    run = asyncio.run if LOOP == "asyncio" else uvloop.run
    results = run(measure(n, rounds))
    print(f"== pipeline e2e: generator -> map-cat (MapAsyncServer) -> blackhole, {n} msgs x {len(PAYLOAD)} B")
    print(f"   machine: {platform.node()} {os.cpu_count()} cpus, Python {platform.python_version()}, {LOOP}")
    print(f"   load average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for raw, raw_cpu, rate, rss, cpu in results:
        mem = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
        us = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        print(f"   raw round trip {raw:6,.0f} msgs/s (client {raw_cpu:.0f} us cpu/msg)")
        print(
            f"   pipeline       {rate:6,.0f} msgs/s | {rate / raw:.2f}x | cpu us/msg: {us} | RSS MiB: {mem}"
        )
    ratio = statistics.median(rate / raw for raw, _, rate, _, _ in results)
    peak = max(v for *_, rss, _ in results for v in rss.values())
    print(
        f"   median ratio: {ratio:.2f}x  (target >= 0.9x); max vertex RSS {peak:.0f} MiB (target < 100 MiB)"
    )


if __name__ == "__main__":
    main()
