"""A real nats-server, a small pipeline with its buffers, and the daemon run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from numaflux.api import Pipeline
from numaflux.daemon.config import encode_pipeline
from numaflux.isb import connect, create_buffers, delete_buffers
from numaflux.isb.server import NatsServer, free_port

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")
NAMESPACE = "ns"


def make_pipeline(name: str, *, cat_length: int = 100, cat_limit: int = 50) -> Pipeline:
    """in (generator) -> cat (map) -> out (log sink); cat's own limits override the pipeline's."""
    doc: dict[str, Any] = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "limits": {"bufferMaxLength": 1000, "bufferUsageLimit": 90},
            "vertices": [
                {"name": "in", "source": {"generator": {"rpu": 5, "duration": "1s"}}},
                {
                    "name": "cat",
                    "udf": {"container": {"image": "my-cat:latest"}},
                    "limits": {"bufferMaxLength": cat_length, "bufferUsageLimit": cat_limit},
                },
                {"name": "out", "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }
    return Pipeline.model_validate(doc)


def unique_name() -> str:
    return f"pl-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("daemon-nats") / "store")
    server.start()
    yield server
    server.stop()


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


async def wait_live(url: str, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    async def poll() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"daemon exited with {proc.returncode}")
                try:
                    async with session.get(url + "/livez") as resp:
                        if resp.status == 204:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), limit)


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m numaflux daemon` with `env`, output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "numaflux", "daemon"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def start_daemon(
    pipeline: Pipeline, nats_url: str, log: Path, extra_env: dict[str, str] | None = None
) -> DaemonProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(
        {
            "NUMAFLOW_PIPELINE_OBJECT": encode_pipeline(pipeline),
            "NUMAFLOW_NAMESPACE": pipeline.namespace,
            "NUMAFLOW_ISBSVC_JETSTREAM_URL": nats_url,
            "NUMAFLUX_POD_IP": "127.0.0.1",
            "NUMAFLUX_DAEMON_PORT": str(port),
            "NUMAFLUX_DAEMON_HEALTH_STEP": "0.2",
            "NUMAFLUX_DAEMON_POD_DISCOVERY": "static",
            "NUMAFLUX_DAEMON_STATIC_PODS": '{"cat": {}}',
            **(extra_env or {}),
        }
    )
    proc = spawn(env, log)
    daemon = DaemonProcess(proc, f"http://127.0.0.1:{port}", log)
    try:
        await wait_live(daemon.url, proc)
    except BaseException:
        stop_daemon(daemon)
        raise
    return daemon


def stop_daemon(daemon: DaemonProcess) -> int:
    """SIGTERM (SIGKILL after 30 s); returns the exit code."""
    if daemon.proc.poll() is None:
        daemon.proc.terminate()
        try:
            daemon.proc.wait(30)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()
    return daemon.proc.returncode


@pytest.fixture
async def pipeline_buffers(nats_server: NatsServer) -> AsyncIterator[Pipeline]:
    """A fresh pipeline whose buffers exist in the ISB (deleted afterwards)."""
    pipeline = make_pipeline(unique_name())
    nc = await connect(nats_server.url, name="daemon-tests")
    js = nc.jetstream()
    await create_buffers(js, pipeline.all_buffers())
    try:
        yield pipeline
    finally:
        await delete_buffers(js, pipeline.all_buffers())
        await nc.close()
