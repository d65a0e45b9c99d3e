"""The seed scenario of the pipeline lifecycle on the local cluster, with message accounting.

Three vertices at 2, 3 and 1 replicas; numbered messages sent over HTTP (a 200 means the message was
written to the ISB); pause and drain; the controller killed; the ISB service made unhealthy and healthy
again while no controller runs; a fresh controller process; resume → every vertex back at its replicas,
Ready, and every accepted message found at the log sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, POD, VERTEX, KubeClient
from numaflux.kubelet import paths

from .cluster import Cluster, Process, wait_for
from .helpers import get_or_none, is_ready, until
from .test_pipeline_e2e import (
    _absent,
    all_vertex_pods,
    create_isb,
    every_vertex_ready,
    isb_url,
    paused_without_pods,
    phase_is,
    set_desired,
)

HTTP_PORT = 8090
TARGET = {"pl-in": 2, "pl-cat": 3, "pl-out": 1}
PAYLOAD = re.compile(r"Payload - (msg-\d+) Keys - ")


def seed_pipeline(namespace: str) -> JSON:
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": 20},
            "vertices": [
                {
                    "name": "in",
                    "scale": {"min": 1, "max": 3},
                    "source": {"http": {"ports": {"http": HTTP_PORT}}},
                },
                {
                    "name": "cat",
                    "scale": {"min": 1, "max": 3},
                    "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}},
                },
                {"name": "out", "scale": {"min": 1, "max": 1}, "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


class SinkRecorder:
    """Keeps the latest full read of every `pl-out` pod's log (pod directories vanish with the pod)."""

    def __init__(self, cluster: Cluster, kube: KubeClient, namespace: str) -> None:
        self.cluster, self.kube, self.namespace = cluster, kube, namespace
        self.seen: dict[tuple[str, str], Counter[str]] = {}

    def _read(self, pod: str) -> None:
        for name, path in (
            ("cur", paths.container_log_path(self.cluster.data_dir, self.namespace, pod, "numa")),
            ("prev", paths.previous_container_log_path(self.cluster.data_dir, self.namespace, pod, "numa")),
        ):
            with contextlib.suppress(FileNotFoundError):
                found = Counter(PAYLOAD.findall(path.read_text(errors="replace")))
                # The file only grows while the pod lives; keep the largest read.
                if sum(found.values()) >= sum(self.seen.get((pod, name), Counter()).values()):
                    self.seen[(pod, name)] = found

    async def poll(self) -> None:
        names: set[str] = set()
        while True:
            for p in await all_vertex_pods(self.kube, self.namespace):
                if p["metadata"]["name"].startswith("pl-out-"):
                    names.add(p["metadata"]["name"])
            for name in names:
                self._read(name)
            await asyncio.sleep(0.1)

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for found in self.seen.values():
            total.update(found)
        return total


async def source_urls(kube: KubeClient, namespace: str) -> list[str]:
    pods = [
        p
        for p in await all_vertex_pods(kube, namespace)
        if p["metadata"]["name"].startswith("pl-in-") and not p["metadata"].get("deletionTimestamp")
    ]
    return [f"http://{p['status']['podIP']}:{HTTP_PORT}/vertices/in" for p in pods]


REFUSALS: list[str] = []


async def send(session: aiohttp.ClientSession, url: str, i: int, attempts: int = 1) -> bool:
    """POST message `i` (429 retried; 5xx and connection errors retried up to `attempts`, same id); True
    once the source answers 200 (written to the ISB). Every refusal is kept in REFUSALS for the report."""
    name = f"msg-{i:05d}"
    failures = 0
    for _ in range(50):
        try:
            async with session.post(url, data=name.encode(), headers={"X-Numaflow-Id": name}) as resp:
                if resp.status == 200:
                    return True
                REFUSALS.append(f"{name} {url}: {resp.status} {(await resp.text())[:100]}")
                if resp.status < 500 and resp.status != 429:
                    return False
                failures += resp.status != 429
        except (aiohttp.ClientError, TimeoutError) as err:
            REFUSALS.append(f"{name} {url}: {type(err).__name__} {err}")
            failures += 1
        if failures >= attempts:
            return False
        await asyncio.sleep(0.2)
    return False


def nats_server_pids(pod_ip: str) -> list[int]:
    """The nats-server processes listening on the ISB pod's IP."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == "nats-server" and pod_ip.encode() in argv:
            found.append(int(entry.name))
    return found


async def make_isb_unhealthy_then_healthy(kube: KubeClient, namespace: str) -> float:
    """Kill the ISB pod's nats-server (kill -9, repeatedly) until its pod is not Ready; then let the
    kubelet bring it back and wait for Ready. Returns the seconds the pod was not Ready."""
    (pod,) = [
        p
        for p in (await kube.list(POD, namespace)).get("items") or []
        if p["metadata"]["name"].startswith("isbsvc-default-js-")
    ]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    assert nats_server_pids(ip), f"no nats-server found for ISB pod {name} at {ip}"

    async def killed_until_not_ready() -> bool:
        for pid in nats_server_pids(ip):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        current = await kube.get(POD, namespace, name)
        return not is_ready(current)

    await until(killed_until_not_ready, "ISB pod not Ready after killing its nats-server", 60)
    down = time.monotonic()

    async def ready_again() -> bool:
        current = await get_or_none(kube, POD, namespace, name)
        return current is not None and is_ready(current) and bool(nats_server_pids(ip))

    await until(ready_again, "ISB pod Ready again (nats-server restarted by the kubelet)", 90)
    return time.monotonic() - down


def restart_controller(cluster: Cluster) -> Process:
    cluster.ready_file.unlink(missing_ok=True)
    proc = cluster.controller()
    wait_for(cluster.ready_file.exists, "controller ready", 60)
    return proc


async def start_at_target(kube: KubeClient, namespace: str) -> None:
    """ISB service, then the seed pipeline with its vertices scaled to 2, 3 and 1, every pod Ready."""
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)
    await kube.create(PIPELINE, seed_pipeline(namespace))
    await until(lambda: every_vertex_ready(kube, namespace, {n: 1 for n in TARGET}), "every vertex at 1", 120)
    await kube.patch(VERTEX, namespace, "pl-in", {"spec": {"replicas": 2}})
    await kube.patch(VERTEX, namespace, "pl-cat", {"spec": {"replicas": 3}})
    await until(lambda: every_vertex_ready(kube, namespace, TARGET), "vertices at 2, 3, 1", 120)


async def send_then_pause(kube: KubeClient, namespace: str, total: int) -> tuple[set[str], float]:
    """Numbered messages round-robin over both source pods, the pause set while the second half is still
    being sent; returns the ids answered 200 and the seconds from the pause to Paused with 0 pods."""
    REFUSALS.clear()
    urls = await source_urls(kube, namespace)
    assert len(urls) == 2
    accepted: list[int] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:

        async def sender(offset: int) -> None:
            for i in range(offset, total, 4):
                if await send(session, urls[i % 2], i):
                    accepted.append(i)

        senders = [asyncio.create_task(sender(k)) for k in range(4)]
        await until(lambda: _at_least(accepted, total // 2), "half of the messages accepted", 60)
        started = time.monotonic()
        await set_desired(kube, namespace, "Paused")
        await asyncio.gather(*senders)
    await until(lambda: paused_without_pods(kube, namespace), "Paused, drained, 0 pods", 90)
    assert accepted, "no message was accepted before the pause"
    return {f"msg-{i:05d}" for i in accepted}, time.monotonic() - started


async def assert_back_at_target_and_nothing_lost(
    kube: KubeClient, namespace: str, recorder: SinkRecorder, accepted: set[str], first_new: int
) -> str:
    """Every vertex Running at 2, 3, 1; 20 more messages accepted; every accepted id at the sink.
    Returns the accounting line."""
    running = await until(lambda: phase_is(kube, namespace, "Running"), "pipeline Running", 60)
    assert running["status"].get("drainedOnPause") is not True
    for v in await _vertices(kube, namespace):
        st = v["status"]
        want = TARGET[v["metadata"]["name"]]
        assert (v["spec"]["replicas"], st["desiredReplicas"], st["readyReplicas"]) == (want, want, want)
        assert v["spec"]["lifecycle"]["desiredPhase"] == "Running"

    # After the resume the pipeline still carries data end to end.
    urls = await source_urls(kube, namespace)
    after = {f"msg-{i:05d}" for i in range(first_new, first_new + 20)}
    refused_before_resume = len(REFUSALS)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        for i in range(first_new, first_new + 20):
            assert await send(session, urls[i % len(urls)], i, attempts=25), (
                f"msg-{i:05d} not accepted after resume: {REFUSALS[-5:]}"
            )
    wanted = accepted | after

    async def all_arrived() -> bool:
        return wanted <= set(recorder.counts())

    with contextlib.suppress(AssertionError):
        await until(all_arrived, "every accepted message at the sink", 60)
    counts = recorder.counts()
    lost = sorted(wanted - set(counts))
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    line = (
        f"accepted before pause {len(accepted)}, after resume {len(after)}, at sink {len(counts)} distinct, "
        f"lost {len(lost)}, duplicates {duplicates}; refusals during the pause {refused_before_resume}, "
        f"after the resume {REFUSALS[refused_before_resume:][:5]}"
    )
    assert lost == [], f"{len(lost)} accepted messages never reached the sink: {lost[:20]}; {line}"
    return line


@pytest.mark.timeout(300)
async def test_seed_scenario_pause_restart_upgrade_isb_outage_resume_restores_every_vertex(
    cluster: Cluster, kube: KubeClient, namespace: str
) -> None:
    first = restart_controller(cluster)
    second: Process | None = None
    recorder = SinkRecorder(cluster, kube, namespace)
    poller = asyncio.create_task(recorder.poll())
    try:
        await start_at_target(kube, namespace)
        accepted, paused_after = await send_then_pause(kube, namespace, 300)

        # Stop the controller hard, take the ISB service down and back up with no controller running.
        first.kill()
        outage = await make_isb_unhealthy_then_healthy(kube, namespace)
        assert await all_vertex_pods(kube, namespace) == []

        # A fresh controller process (the runtime has no version knob; a new process is the upgrade).
        second = restart_controller(cluster)
        await until(lambda: paused_without_pods(kube, namespace), "still Paused under the new controller", 60)
        started = time.monotonic()
        await set_desired(kube, namespace, "Running")
        await until(lambda: every_vertex_ready(kube, namespace, TARGET), "every vertex back at 2, 3, 1", 150)
        resumed_after = time.monotonic() - started
        line = await assert_back_at_target_and_nothing_lost(kube, namespace, recorder, accepted, 300)
        print(
            f"\nseed: {line}; pause→Paused {paused_after:.2f}s, ISB pod not Ready {outage:.2f}s, "
            f"resume→all Ready {resumed_after:.2f}s"
        )
        await kube.delete(PIPELINE, namespace, "pl")
        await until(lambda: _absent(kube, namespace), "pipeline deleted", 60)
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        if first.running():
            first.terminate()
        if second is not None and second.running():
            assert second.terminate() == 0, second.output()[-3000:]


@pytest.mark.timeout(300)
async def test_resume_after_the_pipeline_went_failed_during_the_pause_restores_every_vertex(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    """NumaFlow #2331: resume was decided from status.phase, Failed after the ISB change, and only the
    source came back."""
    recorder = SinkRecorder(cluster, kube, namespace)
    poller = asyncio.create_task(recorder.poll())
    try:
        await start_at_target(kube, namespace)
        accepted, _ = await send_then_pause(kube, namespace, 200)

        async def all_at_sink() -> bool:
            return accepted <= set(recorder.counts())

        # Drained means delivered: everything accepted is at the sink before the ISB service goes away.
        await until(all_at_sink, "every accepted message at the sink after the drain", 30)
        await kube.delete(ISB_SERVICE, namespace, "default")
        failed = await until(
            lambda: phase_is(kube, namespace, "Failed"), "pipeline Failed without its ISB", 60
        )
        assert "isbsvc default" in failed["status"]["message"]
        assert await all_vertex_pods(kube, namespace) == []

        async def isb_gone() -> bool:
            return await get_or_none(kube, ISB_SERVICE, namespace, "default") is None

        await until(isb_gone, "ISB service deleted", 60)
        await create_isb(kube, namespace)
        # Resume while the pipeline still reports Failed: the decision must not come from status.phase.
        still = await kube.get(PIPELINE, namespace, "pl")
        phase_at_resume = still["status"]["phase"]
        started = time.monotonic()
        await set_desired(kube, namespace, "Running")
        await until(lambda: every_vertex_ready(kube, namespace, TARGET), "every vertex back at 2, 3, 1", 180)
        resumed_after = time.monotonic() - started
        line = await assert_back_at_target_and_nothing_lost(kube, namespace, recorder, accepted, 200)
        print(f"\n#2331: phase at resume {phase_at_resume}; {line}; resume→all Ready {resumed_after:.2f}s")
        await kube.delete(PIPELINE, namespace, "pl")
        await until(lambda: _absent(kube, namespace), "pipeline deleted", 60)
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller


async def _at_least(items: list[int], n: int) -> bool:
    return len(items) >= n


async def _vertices(kube: KubeClient, namespace: str) -> list[JSON]:
    items = (await kube.list(VERTEX, namespace)).get("items") or []
    return [v for v in items if not v["metadata"].get("deletionTimestamp")]
