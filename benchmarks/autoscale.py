"""Autoscaling after a step change in input rate, on a fresh local cluster (API server, kubelet, controller
manager with a 2 s autoscaler visit interval).

Pipeline: HTTP source (1 pod) → a map UDF that sleeps 0.1 s per message, one at a time (10 msg/s per
replica at most) → blackhole sink. Scale of the UDF: min 1, max 8, replicasPerScaleUp/Down 2, cooldowns 5 s,
lookbackSeconds 10, targetProcessingSeconds 5. The input steps from 0 to RATE msg/s (default 35: 4 replicas
keep up at best), held for at least HOLD seconds, then back to 0. The daemon scrapes every second.

For each step it reports the time from the step to a stable replica count (the last change of
spec.replicas, once the count has held STABLE seconds with every replica Ready: at least HOLD seconds
after the step up, and back at min 1 after the step down), the scaling decisions taken on the way (the
autoscaler's ScaleUp/ScaleDown Events) and how often the direction changed (oscillations). The baseline is
the fewest decisions the step limit allows: ceil(|final - start| / 2). A step that does not hold still
within SETTLE_WITHIN seconds after HOLD is reported as not stable, with the decisions taken until then.

usage: python -m benchmarks.autoscale [RATE]   (NUMAFLUX_BENCH_HOLD=120, NUMAFLUX_BENCH_STABLE=45)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from benchmarks._common import local_cluster, ready
from benchmarks._common import until as _until
from numaflux.controller.kube import EVENT, ISB_SERVICE, JSON, PIPELINE, POD, VERTEX, KubeClient

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 180) -> T:
    return await _until(check, what, within, interval=0.2)


NS, PL, PORT = "default", "bench-scale", 8090
UDF = f"{PL}-slow"
# The autoscaler tests' slow map UDF, so the benchmark measures the program the tests check.
SLOW_MAP = str(Path(__file__).resolve().parents[1] / "tests" / "autoscaler" / "slow_map.py")
INTERVAL = "2"
SETTLE_WITHIN = 180.0
"""After HOLD, how long a step may take to become stable before it is reported as not stable."""
STEP = 2


def pipeline() -> JSON:
    daemon_env = [
        {"name": "NUMAFLUX_DAEMON_SCRAPE_INTERVAL", "value": "1"},
        {"name": "NUMAFLUX_DAEMON_DISCOVERY_INTERVAL", "value": "2"},
    ]
    return {
        "metadata": {"name": PL, "namespace": NS},
        "spec": {
            "templates": {"daemon": {"containerTemplate": {"env": daemon_env}}},
            "vertices": [
                {"name": "in", "scale": {"min": 1, "max": 1}, "source": {"http": {"ports": {"http": PORT}}}},
                {
                    "name": "slow",
                    "limits": {"readBatchSize": 4},
                    "scale": {
                        "min": 1,
                        "max": 8,
                        "replicasPerScaleUp": STEP,
                        "replicasPerScaleDown": STEP,
                        "scaleUpCooldownSeconds": 5,
                        "scaleDownCooldownSeconds": 5,
                        "lookbackSeconds": 10,
                        "targetProcessingSeconds": 5,
                    },
                    "udf": {
                        "container": {
                            "image": "bench/slow-map",
                            "command": [sys.executable, SLOW_MAP],
                            "env": [{"name": "SECONDS_PER_MESSAGE", "value": "0.1"}],
                        }
                    },
                },
                {"name": "out", "scale": {"min": 1, "max": 1}, "sink": {"blackhole": {}}},
            ],
            "edges": [{"from": "in", "to": "slow"}, {"from": "slow", "to": "out"}],
        },
    }


class Watch:
    """spec.replicas and Ready pods of the UDF, sampled every 0.25 s: (time, replicas, ready)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.samples: list[tuple[float, int, int]] = []

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                v = await self.kube.get(VERTEX, NS, UDF)
                pods = (await self.kube.list(POD, NS)).get("items") or []
                mine = [
                    p
                    for p in pods
                    if p["metadata"]["name"].startswith(f"{UDF}-")
                    and not p["metadata"].get("deletionTimestamp")
                ]
                self.samples.append(
                    (time.monotonic(), int(v["spec"].get("replicas", 1)), sum(map(ready, mine)))
                )
            await asyncio.sleep(0.25)

    def settled_since(self, stable: float) -> float | None:
        """When the replica count last changed, if it has held (all Ready) for `stable` seconds since."""
        if not self.samples:
            return None
        now, replicas, _ = self.samples[-1]
        changed = self.samples[0][0]
        for t, r, _ in self.samples:
            if r != replicas:
                changed = t
        held = [s for s in self.samples if s[0] >= changed]
        first_all_ready = next((t for t, r, rd in held if rd == r), None)
        if first_all_ready is None or now - changed < stable:
            return None
        return changed


async def send(url: str, rate: float, stop: asyncio.Event) -> int:
    """POST at `rate` msg/s (4 senders) until `stop`; returns the number accepted."""
    accepted = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def sender(k: int) -> None:
            nonlocal accepted
            period, nxt = 4 / rate, time.monotonic() + k / rate
            i = k
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.post(url, data=f"m{i}".encode()) as r:
                        accepted += r.status == 200
                i += 4
                nxt += period
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))

        await asyncio.gather(*(sender(k) for k in range(4)))
    return accepted


async def decisions(kube: KubeClient, since_count: int = 0) -> list[tuple[int, int]]:
    """(from, to) of every autoscaler Event about the UDF, counting repeats, in order."""
    items = (await kube.list(EVENT, NS)).get("items") or []
    out = []
    for e in sorted(items, key=lambda e: e.get("firstTimestamp") or ""):
        if e["involvedObject"]["name"] == UDF and e["reason"] in ("ScaleUp", "ScaleDown"):
            words = e["message"].split()
            out += [(int(words[1]), int(words[3].rstrip(":")))] * int(e.get("count", 1))
    return out[since_count:]


def oscillations(moves: list[tuple[int, int]]) -> int:
    signs = [1 if b > a else -1 for a, b in moves if a != b]
    return sum(1 for x, y in itertools.pairwise(signs) if x != y)


async def step(
    kube: KubeClient,
    watch: Watch,
    label: str,
    hold: float,
    stable: float,
    action: Callable[[], Awaitable[None]],
    target: int | None = None,
) -> JSON:
    """Apply the step, wait at least `hold` seconds and until the count held `stable` seconds; the result
    is the time of the last change after the step and every decision taken meanwhile."""
    before = len(await decisions(kube))
    start_replicas = watch.samples[-1][1]
    started = time.monotonic()
    await action()
    await asyncio.sleep(hold)
    try:
        changed: float | None = await until(
            lambda: _settled(watch, started, stable, target), f"{label}: stable replicas", SETTLE_WITHIN
        )
    except TimeoutError:
        changed = None
    moves = await decisions(kube, before)
    final = watch.samples[-1][1]
    result = {
        "label": label,
        "seconds": None if changed is None else max(0.0, changed - started),
        "from": start_replicas,
        "to": final,
        "decisions": len(moves),
        "fewest": math.ceil(abs(final - start_replicas) / STEP),
        "oscillations": oscillations(moves),
        "moves": moves,
    }
    print(f"  {label}: {result}", flush=True)
    return result


async def _settled(watch: Watch, started: float, stable: float, target: int | None = None) -> float | None:
    changed = watch.settled_since(stable)
    if target is not None and watch.samples[-1][1] != target:
        return None
    return changed if changed is not None and watch.samples[-1][0] - started >= stable else None


async def measure(rate: float, hold: float, stable: float) -> list[JSON]:
    from numaflux.local.lifecycle import open_client

    api = await open_client(DATA)
    kube = KubeClient(api)
    watch = Watch(kube)
    watcher = asyncio.create_task(watch.run())
    results = []
    try:
        await kube.create(
            ISB_SERVICE,
            {"metadata": {"name": "default", "namespace": NS}, "spec": {"jetstream": {"version": "latest"}}},
        )

        async def isb_up() -> bool:
            return ((await kube.get(ISB_SERVICE, NS, "default")).get("status") or {}).get(
                "phase"
            ) == "Running"

        await until(isb_up, "ISB service Running")
        await kube.create(PIPELINE, pipeline())

        async def source_url() -> str | None:
            for p in (await kube.list(POD, NS)).get("items") or []:
                if p["metadata"]["name"].startswith(f"{PL}-in-") and ready(p):
                    return f"http://{p['status']['podIP']}:{PORT}/vertices/in"
            return None

        url = await until(source_url, "source Ready")
        await until(lambda: _settled(watch, time.monotonic() - stable, 5), "UDF settled at start")
        stop = asyncio.Event()
        sending: asyncio.Task[int] | None = None

        async def up() -> None:
            nonlocal sending
            sending = asyncio.create_task(send(url, rate, stop))

        results.append(await step(kube, watch, f"0 → {rate:g} msg/s", hold, stable, up))

        async def down() -> None:
            stop.set()
            assert sending is not None
            print(f"  accepted {await sending} messages", flush=True)

        results.append(await step(kube, watch, f"{rate:g} → 0 msg/s", 0, stable, down, target=1))
        await kube.delete(PIPELINE, NS, PL)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await api.close()
    return results


DATA = Path()


def main() -> None:
    global DATA
    rate = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].replace(".", "").isdigit() else 35.0
    hold = float(os.environ.get("NUMAFLUX_BENCH_HOLD", "120"))
    stable = float(os.environ.get("NUMAFLUX_BENCH_STABLE", "45"))
    os.environ["NUMAFLUX_SCALE_INTERVAL"] = INTERVAL
    with local_cluster("numaflux-bench-autoscale-") as DATA:
        results = asyncio.run(measure(rate, hold, stable))
    print(
        f"\nautoscale ({platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"visit interval {INTERVAL}s, stable = unchanged {stable:g}s)"
    )
    for r in results:
        took = "not stable" if r["seconds"] is None else f"in {r['seconds']:.1f}s"
        print(
            f"  {r['label']:<16} {r['from']} → {r['to']} replicas {took}; "
            f"{r['decisions']} decisions (fewest possible {r['fewest']}, ratio "
            f"{r['decisions'] / max(1, r['fewest']):.2f}x), {r['oscillations']} direction changes; "
            f"{r['moves']}"
        )


if __name__ == "__main__":
    main()
