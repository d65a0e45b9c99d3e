"""Runs small pipelines for real: Vertex objects built from a pipeline-like description, buffers and OT
buckets created on a real nats-server, each vertex as `python -m numaflux vertex` with the pod env, each
UDF as a real pynumaflow server (udf_programs/serve.py) in its own socket directory.

Counting helpers parse the log sink's stdout lines and read what a source wrote into its first buffer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS

from numaflux.api import Vertex
from numaflux.dataplane.config import encode_vertex
from numaflux.isb import BufferConfig, connect, create_buckets, create_buffers, decode_message
from numaflux.isb.config import buffer_name, edge_bucket_name
from numaflux.isb.server import NatsServer, free_port

SERVE = Path(__file__).resolve().parent / "udf_programs" / "serve.py"
REPO = Path(__file__).resolve().parents[2]
ID_RE = re.compile(rb'"id":"(\d+-\d+)"')
LOG_RE = re.compile(r"^Payload - (.*) Keys - (.*) EventTime - (-?\d+) Headers - \{(.*)\} ID - (\S+)$")
# a short AckWait so a killed vertex's unacked messages come back within a test's time budget
TEST_BUFFER = BufferConfig(ack_wait=4.0, duplicates=120.0)
TYPES = {"source": "Source", "sink": "Sink", "udf": "MapUDF"}


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("dp-nats") / "store")
    server.start()
    yield server
    server.stop()


def vertex_type(v: dict[str, Any]) -> str:
    for key, name in TYPES.items():
        if key in v:
            return name
    raise ValueError(f"vertex {v.get('name')}: no source/udf/sink")


@dataclass
class Topology:
    """A pipeline's vertices and edges (the Pipeline spec's shape, camelCase dicts)."""

    vertices: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    namespace: str = "default"
    pipeline: str = field(default_factory=lambda: f"p{uuid.uuid4().hex[:8]}")
    limits: dict[str, Any] = field(default_factory=lambda: {"readBatchSize": 200, "readTimeout": "200ms"})

    def by_name(self, name: str) -> dict[str, Any]:
        return next(v for v in self.vertices if v["name"] == name)

    def partitions(self, name: str) -> int:
        v = self.by_name(name)
        return 1 if "source" in v else int(v.get("partitions", 1))

    def _combined(self, e: dict[str, Any]) -> dict[str, Any]:
        src, dst = self.by_name(e["from"]), self.by_name(e["to"])
        out = dict(e)
        out.update(
            fromVertexType=vertex_type(src),
            fromVertexPartitionCount=self.partitions(e["from"]),
            fromVertexLimits={**self.limits, **src.get("limits", {})},
            toVertexType=vertex_type(dst),
            toVertexPartitionCount=self.partitions(e["to"]),
            toVertexLimits={**self.limits, **dst.get("limits", {})},
        )
        if dst.get("ordered", {}).get("enabled"):
            out["toVertexOrdered"] = True
        return out

    def vertex(self, name: str) -> Vertex:
        v = dict(self.by_name(name))
        v["limits"] = {**self.limits, **v.get("limits", {})}
        spec = {
            **v,
            "pipelineName": self.pipeline,
            "fromEdges": [self._combined(e) for e in self.edges if e["to"] == name],
            "toEdges": [self._combined(e) for e in self.edges if e["from"] == name],
        }
        return Vertex.model_validate(
            {
                "apiVersion": "numaflow.numaproj.io/v1alpha1",
                "kind": "Vertex",
                "metadata": {"name": f"{self.pipeline}-{name}", "namespace": self.namespace},
                "spec": spec,
            }
        )

    def buffers(self, name: str | None = None) -> list[str]:
        names = [name] if name else [v["name"] for v in self.vertices if "source" not in v]
        return [
            buffer_name(self.namespace, self.pipeline, n, i) for n in names for i in range(self.partitions(n))
        ]

    def buckets(self) -> list[str]:
        return [edge_bucket_name(self.namespace, self.pipeline, e["from"], e["to"]) for e in self.edges]

    async def create(self, url: str, config: BufferConfig = TEST_BUFFER) -> None:
        nc = await connect(url)
        try:
            js = nc.jetstream()
            await create_buffers(js, self.buffers(), config)
            await create_buckets(js, self.buckets())
        finally:
            await nc.close()


class UDF:
    """A pynumaflow server from udf_programs/serve.py in its own short socket directory."""

    def __init__(self, program: str, directory: Path, *extra: str) -> None:
        self.program = program
        self.directory = directory
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / f"{program}.log"
        self.starts = 0

    def start(self) -> UDF:
        env = {k: v for k, v in os.environ.items() if k != "NUMAFLOW_UD_CONTAINER_TYPE"}
        self.starts += 1
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SERVE), self.program, str(self.directory), *self.extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class VertexProc:
    """`python -m numaflux vertex` for one vertex replica, with the env a vertex pod's numa container gets."""

    def __init__(
        self,
        topology: Topology,
        name: str,
        url: str,
        workdir: Path,
        *,
        replica: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.topology = topology
        self.name = name
        self.url = url
        self.replica = replica
        self.udf_dir = Path(tempfile.mkdtemp(prefix=f"nfx-{name[:6]}-", dir="/tmp"))
        self.workdir = workdir
        self.port = free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout = workdir / f"{name}-{replica}.out"
        self.stderr = workdir / f"{name}-{replica}.err"
        self.udfs: list[UDF] = []

    def udf(self, program: str, *extra: str) -> UDF:
        u = UDF(program, self.udf_dir, *extra).start()
        self.udfs.append(u)
        return u

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NUMAFLOW_", "NUMAFLUX_"))}
        return {
            **base,
            "NUMAFLOW_VERTEX_OBJECT": encode_vertex(self.topology.vertex(self.name)),
            "NUMAFLOW_REPLICA": str(self.replica),
            "NUMAFLOW_PIPELINE_NAME": self.topology.pipeline,
            "NUMAFLOW_NAMESPACE": self.topology.namespace,
            "NUMAFLOW_VERTEX_NAME": self.name,
            "NUMAFLOW_ISBSVC_TYPE": "jetstream",
            "NUMAFLOW_ISBSVC_JETSTREAM_URL": self.url,
            "NUMAFLOW_GRACEFUL_TIMEOUT_SECS": "15",
            "NUMAFLUX_UDF_DIR": str(self.udf_dir),
            "NUMAFLUX_POD_IP": "127.0.0.1",
            "NUMAFLUX_METRICS_PORT": str(self.port),
            **self.extra_env,
        }

    def start(self) -> VertexProc:
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "numaflux", "vertex"], stdout=out, stderr=err, env=self.env(), cwd=REPO
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for u in self.udfs:
            u.stop()
        shutil.rmtree(self.udf_dir, ignore_errors=True)

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError as err:
            return 0, repr(err)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples matching `labels` (0 when absent)."""
        status, text = self.get("/metrics")
        if status != 200:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    async def wait_ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"vertex {self.name} exited: {self.errors()}")
            if (await asyncio.to_thread(self.get, "/readyz"))[0] == 200:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"vertex {self.name} not ready in {within}s: {self.errors()}")

    def errors(self) -> str:
        try:
            return self.stderr.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def log_lines(self) -> list[tuple[str, str, int, str, str]]:
        """Parsed log-sink lines: (payload, keys, event time ms, headers, id)."""
        out = []
        if not self.stdout.exists():
            return out
        for line in self.stdout.read_text(errors="replace").splitlines():
            m = LOG_RE.match(line)
            if m:
                out.append((m[1], m[2], int(m[3]), m[4], m[5]))
        return out

    def logged_ids(self) -> Counter[str]:
        """Generator ids found in the logged payloads, with their counts."""
        c: Counter[str] = Counter()
        for payload, *_ in self.log_lines():
            for mid in ID_RE.findall(payload.encode()):
                c[mid.decode()] += 1
        return c


async def stream_payloads(url: str, stream: str) -> list[bytes]:
    """Every message payload stored in a buffer's stream, in order."""
    nc: NATS = await connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        last = info.state.last_seq
        out: list[bytes] = []
        if not last:
            return out
        sub = await js.subscribe(stream, ordered_consumer=True)
        try:
            while len(out) < info.state.messages:
                msg = await sub.next_msg(timeout=10)
                out.append(decode_message(msg.data).payload)
        finally:
            await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def produced_ids(url: str, stream: str) -> set[str]:
    """Generator ids a source wrote into `stream`."""
    ids: set[str] = set()
    for payload in await stream_payloads(url, stream):
        ids.update(m.decode() for m in ID_RE.findall(payload))
    return ids


async def wait_for(predicate: Any, within: float, what: str, interval: float = 0.3) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def stream_count(url: str, stream: str) -> int:
    nc = await connect(url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


def report(test: str, **numbers: Any) -> None:
    """Print a result line (visible with -s / in the -ra summary of failures)."""
    print(f"[{test}] " + " ".join(f"{k}={v}" for k, v in numbers.items()), flush=True)


def generator(rpu: int, duration: str = "100ms", **more: Any) -> dict[str, Any]:
    return {"generator": {"rpu": rpu, "duration": duration, **more}}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
