"""Pipeline lifecycle latencies on a fresh local cluster (API server, kubelet, controller manager), each next
to a baseline measured in the same run:

- drained pause → Paused (no data; target < 1 s), against one reconcile round trip of the Vertex controller
  (a spec.replicas patch of a paused vertex → status.observedGeneration);
- pause with ~10k pending messages → Paused, against the same backlog drained with no pause: the pause is
  bounded by draining, so the ratio should be about 1 (the drain rate is reported too);
- resume → every vertex Ready at its replicas (target < 3 s), against create → every vertex Ready.

Pipeline: HTTP source → map-cat → blackhole, one pod each. The backlog is built with `cat` at 0 pods
(autoscaling disabled, spec.replicas 0); timing starts when `cat` is scaled to 1 (with the pause, at the
same moment), so both include the start of its pod.

usage: python -m benchmarks.lifecycle [BACKLOG]   (default 10000; NUMAFLUX_BENCH_ROUNDS=3)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from benchmarks._common import local_cluster, ready
from benchmarks._common import until as _until
from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, POD, VERTEX, KubeClient
from numaflux.local import lifecycle as lc

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 120) -> T:
    return await _until(check, what, within, interval=0.02)


NS, PL, PORT = "default", "bench", 8090
ONE = {"in": 1, "cat": 1, "out": 1}


def pipeline() -> JSON:
    return {
        "metadata": {"name": PL, "namespace": NS},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": 300},
            "limits": {"readBatchSize": 500},
            "vertices": [
                {"name": "in", "scale": {"min": 1, "max": 1}, "source": {"http": {"ports": {"http": PORT}}}},
                {
                    "name": "cat",
                    "scale": {"disabled": True},
                    "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}},
                },
                {"name": "out", "scale": {"min": 1, "max": 1}, "sink": {"blackhole": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


class Bench:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.buffers = lc.BufferReader(kube)
        self.sent = 0

    async def pods(self, vertex: str, *, terminating: bool = False) -> list[JSON]:
        items = (await self.kube.list(POD, NS)).get("items") or []
        return [
            p
            for p in items
            if p["metadata"]["name"].startswith(f"{PL}-{vertex}-")
            and (terminating or not p["metadata"].get("deletionTimestamp"))
        ]

    async def all_ready(self, replicas: dict[str, int]) -> bool:
        for name, want in replicas.items():
            pods = await self.pods(name)
            if len(pods) != want or not all(ready(p) for p in pods):
                return False
            st = (await self.kube.get(VERTEX, NS, f"{PL}-{name}")).get("status") or {}
            if (st.get("phase"), st.get("readyReplicas", 0)) != ("Running", want):
                return False
        pl = await self.kube.get(PIPELINE, NS, PL)
        return (pl.get("status") or {}).get("phase") == "Running"

    async def phase(self, *phases: str) -> JSON | None:
        pl = await self.kube.get(PIPELINE, NS, PL)
        return pl if (pl.get("status") or {}).get("phase") in phases else None

    async def set_desired(self, phase: str) -> None:
        await self.kube.patch(PIPELINE, NS, PL, {"spec": {"lifecycle": {"desiredPhase": phase}}})

    async def scale(self, vertex: str, replicas: int) -> None:
        await self.kube.patch(VERTEX, NS, f"{PL}-{vertex}", {"spec": {"replicas": replicas}})

    async def pending(self) -> int:
        infos = await self.buffers.read(await self.kube.get(PIPELINE, NS, PL))
        return sum(i.pending + i.ack_pending for i in infos)

    async def load(self, n: int) -> int:
        """POST n messages (16 at a time, each retried until accepted); the number accepted."""
        (pod,) = await self.pods("in")
        url = f"http://{pod['status']['podIP']}:{PORT}/vertices/in"
        accepted, first = 0, self.sent
        self.sent += n  # ids are never reused: the ISB drops a repeated id as a duplicate
        async with aiohttp.ClientSession() as session:

            async def post(k: int) -> None:
                nonlocal accepted
                for i in range(first + k, first + n, 16):
                    for _ in range(50):
                        with contextlib.suppress(aiohttp.ClientError):
                            async with session.post(
                                url, data=f"m{i}".encode(), headers={"X-Numaflow-Id": f"m{i}"}
                            ) as r:
                                if r.status == 200:
                                    accepted += 1
                                    break
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(post(k) for k in range(16)))
        return accepted

    async def backlog(self, n: int) -> int:
        """cat to 0 pods, n messages into its buffer; the pending count."""
        await self.scale("cat", 0)
        await until(lambda: self._no_pods("cat"), "cat at 0 pods")
        await self.load(n)
        # The count the buffers report settles a moment after the last write; that is the backlog.
        last, since = -1, time.monotonic()
        while time.monotonic() - since < 1.0:
            now = await self.pending()
            if now != last:
                last, since = now, time.monotonic()
            await asyncio.sleep(0.1)
        return last

    async def _no_pods(self, vertex: str) -> bool:
        # Terminating ones too: a pod still reads until its process is gone.
        return not await self.pods(vertex, terminating=True)

    async def _pending_at_least(self, n: int) -> bool:
        return await self.pending() >= n

    async def _drained(self) -> bool:
        return await self.pending() == 0


async def measure(backlog: int, rounds: int) -> dict[str, list[float]]:
    from numaflux.local.lifecycle import open_client

    out: dict[str, list[float]] = {
        k: [] for k in ("create", "reconcile", "drained", "drain", "drainbase", "pause10k", "resume")
    }
    api = await open_client(DATA)
    kube = KubeClient(api)
    b = Bench(kube)
    try:
        await kube.create(
            ISB_SERVICE,
            {"metadata": {"name": "default", "namespace": NS}, "spec": {"jetstream": {"version": "latest"}}},
        )

        async def isb_up() -> bool:
            isb = await kube.get(ISB_SERVICE, NS, "default")
            return (isb.get("status") or {}).get("phase") == "Running"

        await until(isb_up, "ISB service Running")
        started = time.monotonic()
        await kube.create(PIPELINE, pipeline())
        await until(lambda: b.all_ready(ONE), "every vertex Ready", 180)
        out["create"].append(time.monotonic() - started)
        for r in range(rounds):
            # Drained pause: nothing in the buffers.
            started = time.monotonic()
            await b.set_desired("Paused")
            paused = await until(lambda: b.phase("Paused"), "Paused")
            out["drained"].append(time.monotonic() - started)
            assert paused["status"].get("drainedOnPause") is True

            # Baseline: one Vertex controller round trip while paused (replicas unchanged in effect).
            v = await kube.patch(VERTEX, NS, f"{PL}-out", {"spec": {"replicas": 1 + r % 2}})
            started = time.monotonic()

            async def observed(gen: int = v["metadata"]["generation"]) -> bool:
                st = (await kube.get(VERTEX, NS, f"{PL}-out")).get("status") or {}
                return st.get("observedGeneration") == gen

            await until(observed, "vertex status observed")
            out["reconcile"].append(time.monotonic() - started)
            await b.scale("out", 1)

            # Resume → every vertex Ready.
            started = time.monotonic()
            await b.set_desired("Running")
            await until(lambda: b.all_ready(ONE), "resumed, every vertex Ready")
            out["resume"].append(time.monotonic() - started)

            # Baseline: the same backlog drained with no pause, from cat's scale-up (its pod start
            # included) to empty buffers.
            pending = await b.backlog(backlog)
            started = time.monotonic()
            await b.scale("cat", 1)
            await until(b._drained, "drained", 600)
            base = time.monotonic() - started
            out["drainbase"].append(base)
            out["drain"].append(pending / base)

            # Pause with the backlog pending: cat scaled up and the pause set at the same moment.
            pending = await b.backlog(backlog)
            started = time.monotonic()
            await b.scale("cat", 1)
            await b.set_desired("Paused")
            paused = await until(lambda: b.phase("Paused"), "Paused after the drain", 600)
            took = time.monotonic() - started
            assert paused["status"].get("drainedOnPause") is True
            out["pause10k"].append(took)
            print(
                f"  round {r + 1}: drain of {pending} alone {base:.2f}s; pause with {pending} pending → "
                f"Paused {took:.2f}s",
                flush=True,
            )
            await b.set_desired("Running")
            await until(lambda: b.all_ready(ONE), "running again")
        await kube.delete(PIPELINE, NS, PL)

        async def deleted() -> bool:
            return not any(
                p["metadata"]["name"] == PL for p in (await kube.list(PIPELINE, NS)).get("items") or []
            )

        await until(deleted, "pipeline deleted")
        await kube.delete(ISB_SERVICE, NS, "default")
    finally:
        await b.buffers.close()
        await api.close()
    return out


DATA = Path()


def main() -> None:
    global DATA
    backlog = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 10000
    rounds = int(os.environ.get("NUMAFLUX_BENCH_ROUNDS", "3"))
    with local_cluster("numaflux-bench-lifecycle-") as DATA:
        out = asyncio.run(measure(backlog, rounds))

    def med(key: str) -> float:
        return statistics.median(out[key])

    def all_of(key: str, fmt: str = "{:.2f}") -> str:
        return ", ".join(fmt.format(x) for x in out[key])

    print(
        f"\nlifecycle ({platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {rounds} rounds)"
    )
    print(f"  drained pause → Paused        {med('drained'):.2f}s  ({all_of('drained')})  target < 1 s")
    print(f"    baseline: vertex reconcile round trip {med('reconcile'):.2f}s ({all_of('reconcile')})")
    print(
        f"  pause with {backlog} pending → Paused {med('pause10k'):.2f}s ({all_of('pause10k')}); "
        f"drain alone {med('drainbase'):.2f}s ({all_of('drainbase')}) → ratio "
        f"{med('pause10k') / med('drainbase'):.2f}x"
    )
    print(f"    drain rate (cat pod start included) {med('drain'):.0f} msgs/s ({all_of('drain', '{:.0f}')})")
    print(f"  resume → all Ready            {med('resume'):.2f}s  ({all_of('resume')})  target < 3 s")
    print(f"    baseline: create → all Ready {med('create'):.2f}s")


if __name__ == "__main__":
    main()
