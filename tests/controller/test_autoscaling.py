"""The autoscaler on the local cluster: scale up under load (never past max), down to min when the input
stops, to 0 and back on arrival, blocked by a full downstream buffer, and NumaFlow's bugs #2220, #630 and
#1853 not happening. Short lookback/cooldowns and a 1 s visit interval keep it quick."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from numaflux.controller.kube import EVENT, JSON, PIPELINE, VERTEX, KubeClient

from .accounting import Accounting
from .cluster import Cluster, Process, leading_manager
from .helpers import until
from .test_pipeline_e2e import create_isb, isb_url

SLOW_MAP = str(Path(__file__).parents[1] / "autoscaler" / "slow_map.py")
FAST_DAEMON = {
    "containerTemplate": {
        "env": [
            {"name": "NUMAFLUX_DAEMON_SCRAPE_INTERVAL", "value": "1"},
            {"name": "NUMAFLUX_DAEMON_DISCOVERY_INTERVAL", "value": "1"},
        ]
    }
}
QUICK = {
    "lookbackSeconds": 3,
    "scaleUpCooldownSeconds": 2,
    "scaleDownCooldownSeconds": 2,
    "zeroReplicaSleepSeconds": 5,
    "targetProcessingSeconds": 1,
}
LINE = re.compile(r"msg=autoscaler (skipped|scaled) (.*)$", re.M)


@pytest.fixture
def scaling_manager(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Process]:
    """A leading controller manager whose autoscaler visits each vertex every second."""
    monkeypatch.setenv("NUMAFLUX_SCALE_INTERVAL", "1")
    with leading_manager(cluster) as proc:
        yield proc


def slow_udf(seconds: float, *, startup: float = 0, serial: bool = True) -> JSON:
    return {
        "container": {
            "image": "autoscaler-test/slow-map",
            "command": [sys.executable, SLOW_MAP],
            "env": [
                {"name": "SECONDS_PER_MESSAGE", "value": str(seconds)},
                {"name": "STARTUP_SECONDS", "value": str(startup)},
                {"name": "SERIAL", "value": "true" if serial else "false"},
            ],
        }
    }


def pipeline(
    namespace: str,
    name: str,
    udf: JSON,
    udf_scale: JSON,
    out_scale: JSON,
    udf_limits: JSON | None = None,
    choke: JSON | None = None,
    **spec: Any,
) -> JSON:
    """in (HTTP source, 1 replica) -> slow (the UDF under test) [-> choke (a UDF at 1 replica)] -> out
    (log sink)."""
    vertices: list[JSON] = [
        {"name": "in", "scale": {"min": 1, "max": 1}, "source": {"http": {"ports": {"http": 8090}}}},
        {
            "name": "slow",
            "scale": {**QUICK, **udf_scale},
            "udf": udf,
            "limits": udf_limits or {"readBatchSize": 4},
        },
        {"name": "out", "scale": {**QUICK, **out_scale}, "sink": {"log": {}}},
    ]
    edges = [{"from": "in", "to": "slow"}, {"from": "slow", "to": "out"}]
    if choke is not None:
        vertices.insert(2, {"name": "choke", "scale": {"min": 1, "max": 1}, "udf": choke})
        edges[1:] = [{"from": "slow", "to": "choke"}, {"from": "choke", "to": "out"}]
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"templates": {"daemon": FAST_DAEMON}, "vertices": vertices, "edges": edges, **spec},
    }


def decisions(proc: Process, vertex: str) -> list[dict[str, str]]:
    """The autoscaler's log lines about `vertex` (namespace/name) as dicts (kind: skipped|scaled)."""
    out = []
    for kind, rest in LINE.findall(proc.output()):
        fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', rest))
        if fields.get("vertex") == vertex:
            out.append({"kind": kind, **{k: v.strip('"') for k, v in fields.items()}})
    return out


async def scale_events(kube: KubeClient, namespace: str, vertex: str) -> list[tuple[str, str]]:
    items = (await kube.list(EVENT, namespace)).get("items") or []
    return [
        (e["reason"], e["message"])
        for e in sorted(items, key=lambda e: e["metadata"]["name"])
        if e["involvedObject"]["name"] == vertex and e["reason"] in ("ScaleUp", "ScaleDown")
    ]


def moves(events: list[tuple[str, str]]) -> list[tuple[int, int, int]]:
    """(from, to, ready) of each scale Event."""
    out = []
    for _, message in events:
        m = re.match(r"from (\d+) to (\d+):.* ready=(\d+)", message)
        assert m, message
        out.append((int(m[1]), int(m[2]), int(m[3])))
    return out


class ReplicaWatch:
    """Samples every vertex's spec.replicas and ready replicas in the background."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.seen: dict[str, list[int]] = {}
        self.latest: dict[str, JSON] = {}

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                for v in (await self.kube.list(VERTEX, self.namespace)).get("items") or []:
                    name = v["metadata"]["name"]
                    self.latest[name] = v
                    self.seen.setdefault(name, []).append(int(v["spec"].get("replicas", 1)))
            await asyncio.sleep(0.2)

    def replicas(self, name: str) -> int | None:
        v = self.latest.get(name)
        return None if v is None else int(v["spec"].get("replicas", 1))

    def ready(self, name: str) -> int:
        v = self.latest.get(name)
        return 0 if v is None else int((v.get("status") or {}).get("readyReplicas") or 0)


@contextlib.asynccontextmanager
async def watching(kube: KubeClient, namespace: str) -> AsyncIterator[ReplicaWatch]:
    watch = ReplicaWatch(kube, namespace)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def at(watch: ReplicaWatch, name: str, replicas: int, what: str, within: float = 60) -> None:
    async def check() -> bool:
        return watch.replicas(name) == replicas and watch.ready(name) == replicas

    await until(check, what, within)


@pytest.mark.timeout(240)
async def test_load_scales_the_udf_up_to_max_then_down_to_min_and_the_sink_sleeps_at_0_and_wakes(
    cluster: Cluster, kube: KubeClient, namespace: str, scaling_manager: Process
) -> None:
    """One slow UDF replica handles ~10 msg/s; a burst of messages must take it to max (3) one replica at
    a time, each step waiting for the replica before to be ready (it starts in 3 s: #1853); the sink
    (min 0) sleeps at 0 and wakes when messages reach its buffer; after the burst the UDF returns to
    min 1 and, as its spec.replicas is set below min with no traffic, is put back at 1 (#2220)."""
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running", 90)
    body = pipeline(
        namespace,
        "pl",
        slow_udf(0.1, startup=3),
        {"min": 1, "max": 3, "replicasPerScaleUp": 1},
        {"min": 0, "max": 2},
    )
    await kube.create(PIPELINE, body)
    async with watching(kube, namespace) as watch, Accounting(cluster, kube, namespace) as acct:
        await at(watch, "pl-slow", 1, "the UDF at 1, ready", 90)
        await at(watch, "pl-in", 1, "the source at 1, ready", 60)
        await at(watch, "pl-out", 0, "the idle sink (min 0) at 0", 60)

        await acct.send_all(600, within=90)

        async def reached_max() -> bool:
            return 3 in watch.seen.get("pl-slow", [])

        await until(reached_max, "the UDF scaled to max 3 under load", 90)
        await acct.assert_nothing_lost("autoscale burst", within=90)
        await at(watch, "pl-slow", 1, "the UDF back at min 1 after the burst", 60)
        await at(watch, "pl-out", 0, "the sink back at 0", 60)

        # #2220: below min with no traffic is corrected, not left alone.
        await kube.patch(VERTEX, namespace, "pl-slow", {"spec": {"replicas": 0}})
        await until(lambda: _spec_replicas(kube, namespace, "pl-slow", 1), "spec.replicas back at min 1", 30)

        async def corrected() -> bool:
            return any("model=out-of-range" in m for _, m in await scale_events(kube, namespace, "pl-slow"))

        await until(corrected, "the correction's Event", 15)

    assert max(watch.seen["pl-slow"]) == 3, watch.seen["pl-slow"]
    slow = moves(await scale_events(kube, namespace, "pl-slow"))
    out = moves(await scale_events(kube, namespace, "pl-out"))
    print(f"\nUDF decisions (from, to, ready): {slow}\nsink decisions: {out}")
    ups = [(f, t, r) for f, t, r in slow if t > f and f > 0]
    assert [t for _, t, _ in ups][:2] == [2, 3], slow
    assert all(r == f for f, _, r in ups), f"a scale-up counted replicas that were not ready: {ups}"
    assert all(t <= 3 for _, t, _ in slow)
    assert (0, 1) in [(f, t) for f, t, _ in out], out  # woke from 0
    assert out[0][1] == 0 or (out[0][0], out[0][1]) == (1, 0), out
    waited = [
        d
        for d in decisions(scaling_manager, f"{namespace}/pl-slow")
        if d["decision"] == "WaitingForReadyReplicas"
    ]
    print(f"visits that waited for a starting replica: {len(waited)}")
    assert waited, "no visit waited for a replica that was still starting"
    # never below min 1: the only write under 1 is the test's own
    assert all(t >= 1 for _, t, _ in slow), slow


async def _spec_replicas(kube: KubeClient, namespace: str, name: str, want: int) -> bool:
    v = await kube.get(VERTEX, namespace, name)
    return int(v["spec"].get("replicas", 1)) == want
