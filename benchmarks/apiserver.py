"""API server benchmark: object writes per second and watch delivery latency with 100 watchers.

Each figure is set against a raw baseline measured in the same run:
- writes: ConfigMap creates through kubernetes_asyncio (16 in flight) vs. raw SQLite inserts with one
  WAL commit each (the server's storage floor);
- watch latency: time from just before a create is sent until each of 100 watch streams has the
  event, vs. a bare aiohttp server broadcasting JSON lines to 100 streaming clients (no TLS, no
  storage) triggered the same way.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml
from kubernetes_asyncio import client, config

WRITES = 1000
IN_FLIGHT = 16
WATCHERS = 100
EVENTS = 100

_RAW_SERVER = r"""
import asyncio, sys
from aiohttp import web
queues = set()
async def stream(request):
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    queue = asyncio.Queue()
    queues.add(queue)
    try:
        while True:
            await response.write(await queue.get())
    finally:
        queues.discard(queue)
async def publish(request):
    body = await request.read()
    line = b'{"type":"ADDED","object":' + body + b'}\n'
    for queue in list(queues):
        queue.put_nowait(line)
    return web.json_response({"ok": True}, status=201)
app = web.Application()
app.router.add_get("/stream", stream)
app.router.add_post("/publish", publish)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_sqlite_inserts(path: Path, count: int) -> float:
    """Rows per second, one transaction each, same pragmas as the server's store."""
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    payload = json.dumps({"metadata": {"name": "x" * 20}, "data": {"k": "v" * 50}})
    start = time.perf_counter()
    for i in range(count):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", payload))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return count / elapsed


async def api_writes(kubeconfig: Path, count: int) -> float:
    """ConfigMap creates per second through kubernetes_asyncio."""
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="bench-writes")))
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with semaphore:
            body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}"), data={"k": "v" * 50})
            await core.create_namespaced_config_map("bench-writes", body)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    await api.close()
    return count / elapsed


async def plain_writes(data_dir: Path, port: int, count: int) -> float:
    """ConfigMap creates per second with a bare aiohttp client (no client-side models)."""
    import ssl as ssl_module

    kubeconfig = yaml.safe_load((data_dir / "kubeconfig").read_text())
    headers = {"Authorization": f"Bearer {kubeconfig['users'][0]['user']['token']}"}
    context = ssl_module.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    url = f"https://127.0.0.1:{port}/api/v1/namespaces/bench-writes/configmaps"
    semaphore = asyncio.Semaphore(IN_FLIGHT)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(i: int) -> None:
            async with semaphore:
                body = {"metadata": {"name": f"plain-{i}"}, "data": {"k": "v" * 50}}
                async with session.post(url, json=body, ssl=context) as resp:
                    assert resp.status == 201, await resp.text()
                    await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return count / (time.perf_counter() - start)


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _fan_out_latency(
    session: aiohttp.ClientSession,
    stream_url: str,
    publish: Any,
    headers: dict[str, str],
    ssl: Any,
) -> list[float]:
    """Latencies (s) from publish start to arrival at each of WATCHERS streams, for EVENTS events."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    async def watcher() -> None:
        nonlocal ready
        async with session.get(
            stream_url, headers=headers, ssl=ssl, timeout=aiohttp.ClientTimeout(total=None)
        ) as resp:
            ready += 1
            if ready == WATCHERS:
                all_ready.set()
            seen = 0
            async for line in resp.content:
                event = json.loads(line)
                name = event["object"]["metadata"]["name"]
                if name in sent:
                    latencies.append(time.perf_counter() - sent[name])
                    seen += 1
                    if seen == EVENTS:
                        return

    tasks = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
    await asyncio.wait_for(all_ready.wait(), 60)
    await asyncio.sleep(0.2)
    for i in range(EVENTS):
        name = f"ev-{i}"
        sent[name] = time.perf_counter()
        await publish(name)
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return latencies


async def api_watch_latency(data_dir: Path, port: int) -> list[float]:
    kubeconfig = yaml.safe_load((data_dir / "kubeconfig").read_text())
    token = kubeconfig["users"][0]["user"]["token"]
    import ssl as ssl_module

    context = ssl_module.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    headers = {"Authorization": f"Bearer {token}"}
    base = f"https://127.0.0.1:{port}/api/v1/namespaces/default/configmaps"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def publish(name: str) -> None:
            body = {"metadata": {"name": name}, "data": {"k": "v"}}
            async with session.post(base, json=body, headers=headers, ssl=context) as resp:
                assert resp.status == 201, await resp.text()

        return await _fan_out_latency(session, f"{base}?watch=1&resourceVersion=0", publish, headers, context)


async def raw_watch_latency(port: int) -> list[float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def publish(name: str) -> None:
            body = json.dumps({"metadata": {"name": name}, "data": {"k": "v"}}).encode()
            async with session.post(f"http://127.0.0.1:{port}/publish", data=body) as resp:
                assert resp.status == 201

        return await _fan_out_latency(session, f"http://127.0.0.1:{port}/stream", publish, {}, None)


def _start_api(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "numaflux.apiserver", "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = data_dir / "apiserver.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if state.exists() and json.loads(state.read_text()).get("pid") == proc.pid:
            return proc, int(json.loads(state.read_text())["port"])
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("API server did not start")


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nfx-bench-") as tmp:
        root = Path(tmp)
        raw_rate = raw_sqlite_inserts(root / "raw.db", WRITES)
        api_proc, api_port = _start_api(root / "api")
        try:
            cpu_before = _cpu(api_proc.pid)
            api_rate = asyncio.run(api_writes(root / "api" / "kubeconfig", WRITES))
            cpu_per_write = (_cpu(api_proc.pid) - cpu_before) / WRITES
            plain_rate = asyncio.run(plain_writes(root / "api", api_port, WRITES))
            api_lat = asyncio.run(api_watch_latency(root / "api", api_port))
        finally:
            _stop(api_proc)
        raw_port = _free_port()
        raw_proc = subprocess.Popen(
            [sys.executable, "-c", _RAW_SERVER, str(raw_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.0)
            raw_lat = asyncio.run(raw_watch_latency(raw_port))
        finally:
            _stop(raw_proc)
    print("API server")
    print(
        f"  writes/s   ConfigMap create via kubernetes_asyncio: {api_rate:8.0f}   "
        f"raw SQLite WAL insert: {raw_rate:8.0f}   ratio {api_rate / raw_rate:.3f}"
    )
    print(
        f"  writes/s   ConfigMap create via bare aiohttp client:  {plain_rate:8.0f}   "
        f"server CPU per create: {cpu_per_write * 1e6:6.0f} us"
    )
    for label, lat in (("API watch", api_lat), ("raw aiohttp", raw_lat)):
        print(
            f"  {label:12s} latency over {WATCHERS} watchers x {EVENTS} events: "
            f"p50 {_pct(lat, 0.5):6.1f} ms  p99 {_pct(lat, 0.99):6.1f} ms  "
            f"mean {statistics.mean(lat) * 1000:6.1f} ms"
        )
    print(f"  watch p50 ratio (API / raw): {_pct(api_lat, 0.5) / _pct(raw_lat, 0.5):.2f}")


if __name__ == "__main__":
    main()
