"""Upstream NumaFlow examples through `numaflux run` on one local cluster: each delivers messages to its
sinks (HTTP sources are driven by the test); 4-udsink-pipeline's `my-sink:latest` cannot run locally and
says how to map it. Examples run a few at a time to keep the module short."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import config

from numaflux.api import constants as c
from numaflux.controller.kube import JSON, PIPELINE, POD, VERTEX, KubeClient, is_not_found

ROOT = Path(__file__).resolve().parents[2]
RUN_FOR = "60s"
TOKEN = "example-token"
HTTP_PORT = 8443  # the HTTP source's HTTPS port (self-signed certificate)

pytestmark = pytest.mark.timeout(300)


def numaflux(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMAFLUX_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "numaflux", *args, "--dir", str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("examples") / "cluster"
    up = numaflux(data_dir, "local", "up", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield data_dir
    finally:
        numaflux(data_dir, "local", "down", timeout=120)


@pytest_asyncio.fixture(loop_scope="function")
async def kube(local: Path) -> AsyncIterator[KubeClient]:
    api = await config.new_client_from_config(config_file=str(local / "kubeconfig"))
    try:
        yield KubeClient(api)
    finally:
        await api.close()


@dataclass
class Run:
    """One `numaflux run EXAMPLE --for RUN_FOR` in the background."""

    example: str
    proc: subprocess.Popen[str]
    log: Path

    def wait(self) -> str:
        self.proc.wait(240)
        out = self.log.read_text(errors="replace")
        assert self.proc.returncode == 0, f"{self.example}:\n{out[-4000:]}"
        return out


def start(local: Path, examples: Path, name: str, tmp_path: Path) -> Run:
    log = tmp_path / f"{name}.out"
    env = {k: v for k, v in os.environ.items() if k != "NUMAFLUX_DIR"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "numaflux",
                "run",
                str(examples / f"{name}.yaml"),
                "--for",
                RUN_FOR,
                "--dir",
                str(local),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    return Run(name, proc, log)


def totals(out: str) -> dict[str, int]:
    """`totals (messages read):` of run's output, per vertex."""
    assert "totals (messages read):" in out, out[-3000:]
    block = out.split("totals (messages read):", 1)[1]
    return {k: int(v) for k, v in re.findall(r"^  (\S+)\s+(\d+)$", block, re.M)}


def sink_lines(out: str, pipeline: str, sink: str) -> list[str]:
    """What the sink pods wrote, as `numaflux run` tails it (`  POD: LINE`)."""
    return re.findall(rf"^  {re.escape(pipeline)}-{re.escape(sink)}-\d+-\w+: (.*)$", out, re.M)


def assert_delivered(out: str, pipeline: str, sinks: dict[str, str]) -> None:
    """Each sink wrote lines containing its marker, and its vertex read messages."""
    got = totals(out)
    print(pipeline, got)
    for sink, marker in sinks.items():
        lines = sink_lines(out, pipeline, sink)
        assert any(marker in line for line in lines), (pipeline, sink, lines[-5:], out[-3000:])
        assert got[sink] > 0, (pipeline, sink, got)


async def source_url(kube: KubeClient, pipeline: str, within: float = 120) -> str:
    """The HTTP source of `pipeline` (vertex `in`) once its pod runs."""

    async def find() -> str | None:
        items = (await kube.list(POD, "default")).get("items") or []
        for p in items:
            labels = p["metadata"].get("labels") or {}
            # Running is enough: the source accepts before its readiness probe catches up on a busy machine
            running = (p.get("status") or {}).get("phase") == "Running"
            if (
                labels.get(c.KEY_PIPELINE_NAME) == pipeline
                and labels.get(c.KEY_VERTEX_NAME) == "in"
                and running
                and (p.get("status") or {}).get("podIP")
            ):
                return f"https://{p['status']['podIP']}:{HTTP_PORT}/vertices/in"
        return None

    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = await find()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"{pipeline}: no running HTTP source pod within {within:g}s")


async def post(
    kube: KubeClient, pipeline: str, payloads: list[str], token: str | None = None, within: float = 100
) -> int:
    """POST each payload to the pipeline's HTTP source, retrying refusals until `within` seconds are up;
    how many were accepted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    url = await source_url(kube, pipeline, within)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    accepted = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for payload in payloads:
            while loop.time() < deadline:
                try:
                    async with session.post(url, data=payload.encode(), headers=headers, ssl=False) as r:
                        if r.status == 200:
                            accepted += 1
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.5)
    return accepted


async def unrunnable(kube: KubeClient, vertex: str, within: float = 90) -> JSON:
    """The Vertex once its status reports a pod that cannot run locally."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        v = await kube.get(VERTEX, "default", vertex)
        if (v.get("status") or {}).get("reason") == "PodImageNotRunnableLocally":
            return v
        await asyncio.sleep(0.5)
    raise AssertionError(f"{vertex}: no PodImageNotRunnableLocally within {within:g}s")


async def delete_pipeline(kube: KubeClient, name: str) -> None:
    """Delete a pipeline left by an earlier run (the simple-pipeline variants share a name)."""
    try:
        await kube.delete(PIPELINE, "default", name)
    except Exception as err:
        if not is_not_found(err):
            raise
        return
    for _ in range(240):
        try:
            await kube.get(PIPELINE, "default", name)
        except Exception as err:
            if is_not_found(err):
                return
            raise
        await asyncio.sleep(0.5)
    raise AssertionError(f"pipeline {name} not deleted")


async def finish(*runs: Run) -> dict[str, str]:
    outs = await asyncio.gather(*(asyncio.to_thread(r.wait) for r in runs))
    return {r.example: out for r, out in zip(runs, outs, strict=True)}


PAYLOAD = "Payload - "


async def test_simple_and_even_odd_deliver_and_an_unmapped_image_says_how_to_map_it(
    local: Path, kube: KubeClient, shared_examples_dir: Path, tmp_path: Path
) -> None:
    names = ["1-simple-pipeline", "2-even-odd-pipeline", "4-udsink-pipeline"]
    runs = [start(local, shared_examples_dir, n, tmp_path) for n in names]
    try:
        assert await post(kube, "even-odd", [str(i) for i in range(1, 9)]) == 8
        # while it runs (a pause takes the pods, and with them the reason, away)
        out_vertex = await unrunnable(kube, "udsink-pipeline-out")
    finally:
        outs = await finish(*runs)
    assert_delivered(outs["1-simple-pipeline"], "simple-pipeline", {"out": PAYLOAD})
    even_odd = outs["2-even-odd-pipeline"]
    assert_delivered(
        even_odd, "even-odd", {"even-sink": "Payload - 2", "odd-sink": "Payload - 1", "number-sink": PAYLOAD}
    )
    assert not any("Payload - 1 " in line for line in sink_lines(even_odd, "even-odd", "even-sink"))

    udsink = outs["4-udsink-pipeline"]
    assert 'ImageNotRunnableLocally: image "my-sink:latest" cannot run on this machine' in udsink
    assert f"map the image to a local command in {local / 'images.yaml'}" in udsink
    assert totals(udsink)["out"] == 0
    assert out_vertex["status"]["reason"] == "PodImageNotRunnableLocally"
    assert "images.yaml" in out_vertex["status"]["message"]


async def test_wm_disabled_auto_scaling_and_fallback_examples_deliver(
    local: Path, kube: KubeClient, shared_examples_dir: Path, tmp_path: Path
) -> None:
    await delete_pipeline(kube, "simple-pipeline")
    names = ["1-simple-pipeline-wm-disabled", "5-auto-scaling", "14-simple-fallback-pipeline"]
    outs = await finish(*(start(local, shared_examples_dir, n, tmp_path) for n in names))
    assert_delivered(outs["1-simple-pipeline-wm-disabled"], "simple-pipeline", {"out": PAYLOAD})
    assert_delivered(outs["5-auto-scaling"], "autoscaling-pipeline", {"out": PAYLOAD})
    fallback = "[fb-udsink] Fallback sink received - "
    assert_delivered(outs["14-simple-fallback-pipeline"], "simple-fallback", {"output": fallback})


async def test_keys_http_cycle_and_filter_examples_deliver(
    local: Path, kube: KubeClient, shared_examples_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: my-secret\n"
        f"data:\n  my-key: {base64.b64encode(TOKEN.encode()).decode()}\n"
    )
    applied = numaflux(local, "apply", "-f", str(secret))
    assert applied.returncode == 0, applied.stderr
    await delete_pipeline(kube, "simple-pipeline")
    names = ["1-simple-pipeline-keys", "2-http-pipeline", "10-cycle-to-self", "3-pipeline-filter"]
    runs = [start(local, shared_examples_dir, n, tmp_path) for n in names]
    try:
        # ids below 100 pass the filter; the rest are dropped
        filtered = [f'{{"id": {i}, "msg": "hello"}}' for i in (1, 2, 3, 150, 200)]
        sent = await asyncio.gather(
            post(kube, "http-pipeline", [f"hello-{i}" for i in range(5)]),
            post(kube, "cycle-to-self", [f"retry-me-{i}" for i in range(3)]),
            post(kube, "filter-pipeline", filtered, TOKEN),
        )
        assert sent == [5, 3, 5]
    finally:
        outs = await finish(*runs)
    assert_delivered(outs["1-simple-pipeline-keys"], "simple-pipeline", {"out": PAYLOAD})
    assert_delivered(outs["2-http-pipeline"], "http-pipeline", {"out": "Payload - hello-"})
    assert_delivered(outs["10-cycle-to-self"], "cycle-to-self", {"out": "Payload - retry-me-"})
    assert_delivered(outs["3-pipeline-filter"], "filter-pipeline", {"out": '"id": 1'})
    passed = sink_lines(outs["3-pipeline-filter"], "filter-pipeline", "out")
    assert not any('"id": 150' in line or '"id": 200' in line for line in passed), passed
