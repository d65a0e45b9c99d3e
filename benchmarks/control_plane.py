"""Control-plane benchmark: 300 pipelines x 3 vertices with `desiredPhase: Paused` (no vertex pods) created at
once; the controller manager converges them (Vertex objects, buffers and buckets in JetStream, daemon
Deployments, statuses). Reported: time to steady state, reconciles/s and p50/p99 reconcile latency.

Latencies are the controller's own: `numaflux controller --log-reconcile-times` logs every successful
reconcile with its duration (perf_counter around the reconcile call), parsed here from its log.

The kubelet runs only until the ISB service is Ready and is then SIGKILLed (its pods keep running, their
last status stands), so the 300 daemon pods stay Pending as objects instead of 300 processes; the benchmark
measures the controllers, not the machine's process budget.

Set against a raw baseline from the same run: the API server's own floor — one create + one status read
per object the controller writes (Vertex creates), done by a plain client with 16 in flight.

NUMAFLUX_BENCH_KEEP_LOGS=DIR copies the processes' logs (the controller's reconcile timings included) to DIR.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes_asyncio import config

from numaflux.controller.kube import CONFIG_MAP, ISB_SERVICE, PIPELINE, VERTEX, KubeClient
from numaflux.kubelet import agent
from numaflux.kubelet.adopted import find_leftovers

PIPELINES = int(os.environ.get("NUMAFLUX_BENCH_PIPELINES", "300"))
NAMESPACE = "default"
IN_FLIGHT = 16
SETTLE_QUIET = 5.0  # seconds without a reconcile of CONVERGING controllers that count as steady
# the controllers that converge the objects; others (the autoscaler) requeue periodically forever
CONVERGING = ("pipeline", "vertex", "deployment")
CONVERGE_TIMEOUT = 900.0
TIMING = re.compile(r"msg=reconciled controller=(\S+) key=(\S+) seconds=([0-9.]+)")


def pipeline(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"p{i:03d}", "namespace": NAMESPACE},
        "spec": {
            "lifecycle": {"desiredPhase": "Paused"},
            "vertices": [
                {"name": "in", "source": {"generator": {"rpu": 1, "duration": "1s"}}},
                {"name": "cat", "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}}},
                {"name": "out", "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


def start(log: Path, *argv: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *argv], stdout=out, stderr=subprocess.STDOUT)


def wait_for(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not within {within:g}s")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def in_flight(n: int, work: Any) -> None:
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await work(i)

    await asyncio.gather(*(one(i) for i in range(n)))


def pipeline_converged(p: dict[str, Any]) -> bool:
    st = p.get("status") or {}
    return st.get("phase") == "Paused" and st.get("observedGeneration") == p["metadata"].get("generation")


def vertex_converged(v: dict[str, Any]) -> bool:
    st = v.get("status") or {}
    return (
        st.get("phase") == "Paused"
        and st.get("desiredReplicas") == 0
        and st.get("observedGeneration") == v["metadata"].get("generation")
    )


class Convergence:
    """Which pipelines and vertices have converged, kept by watches (as `kubectl get -w` would): polling
    full lists of 1,200 objects every second would load the API server the benchmark measures through."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], bool] = {}
        self.changed = asyncio.Event()

    def counts(self) -> tuple[int, int]:
        """(pipelines converged, vertices converged)."""
        done = Counter(kind for (kind, _), ok in self.state.items() if ok)
        return done["pipeline"], done["vertex"]

    async def follow(self, kube: KubeClient, kind: Any, label: str, check: Any) -> None:
        listed = await kube.list(kind, NAMESPACE)
        for obj in listed.get("items") or []:
            self.state[(label, obj["metadata"]["name"])] = check(obj)
        version = listed["metadata"]["resourceVersion"]
        while True:
            async for event in kube.watch(kind, NAMESPACE, version, 300):
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watching {label}s: {obj.get('message')}")
                version = obj["metadata"].get("resourceVersion", version)
                if event["type"] == "BOOKMARK":
                    continue
                key = (label, obj["metadata"]["name"])
                if event["type"] == "DELETED":
                    self.state.pop(key, None)
                else:
                    self.state[key] = check(obj)
                self.changed.set()


ENSURED = re.compile(r"msg=ensured key=(\S+) seconds=([0-9.]+)")


def stamp_of(line: str) -> float:
    """The wall time of a controller log line (logging's asctime is local time, like time.time())."""
    stamp = line.split("time=", 1)[1].split(" level=", 1)[0]
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + int(stamp[20:23]) / 1000


def ensure_lines(log: Path) -> list[tuple[float, float]]:
    """(wall time, seconds) of the ISB ensures the Pipeline controller ran beside its reconciles."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = ENSURED.search(line)
        if m is not None:
            out.append((stamp_of(line), float(m.group(2))))
    return out


def reconcile_lines(log: Path) -> list[tuple[float, str, float]]:
    """(wall time, controller, seconds) of every logged reconcile."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = TIMING.search(line)
        if m is None:
            continue
        out.append((stamp_of(line), m.group(1), float(m.group(3))))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def baseline(kube: KubeClient, n: int) -> float:
    """Seconds for n ConfigMap creates + reads (a controller's bare API floor), 16 in flight."""
    started = time.perf_counter()

    async def work(i: int) -> None:
        await kube.create(
            CONFIG_MAP, {"metadata": {"name": f"floor-{i}", "namespace": NAMESPACE}, "data": {}}
        )
        await kube.get(CONFIG_MAP, NAMESPACE, f"floor-{i}")

    await in_flight(n, work)
    return time.perf_counter() - started


async def start_isb(data_dir: Path) -> None:
    api = await config.new_client_from_config(config_file=str(data_dir / "kubeconfig"))
    kube = KubeClient(api)
    try:
        await kube.create(
            ISB_SERVICE,
            {
                "metadata": {"name": "default", "namespace": NAMESPACE},
                "spec": {"jetstream": {"version": "latest"}},
            },
        )
        deadline = time.monotonic() + 180
        while True:
            isb = await kube.get(ISB_SERVICE, NAMESPACE, "default")
            if (isb.get("status") or {}).get("phase") == "Running" and (
                ((isb.get("status") or {}).get("config") or {}).get("jetstream") or {}
            ).get("url"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("ISB service not Running within 180s")
            await asyncio.sleep(0.5)
    finally:
        await api.close()


async def measure(data_dir: Path, controller_log: Path) -> dict[str, Any]:
    api = await config.new_client_from_config(config_file=str(data_dir / "kubeconfig"))
    kube = KubeClient(api)
    seen = Convergence()
    watches = [
        asyncio.create_task(seen.follow(kube, PIPELINE, "pipeline", pipeline_converged)),
        asyncio.create_task(seen.follow(kube, VERTEX, "vertex", vertex_converged)),
    ]
    try:
        before = len(reconcile_lines(controller_log))
        started_wall = time.time()
        started = time.monotonic()
        await in_flight(PIPELINES, lambda i: kube.create(PIPELINE, pipeline(i)))
        created = time.monotonic() - started
        while seen.counts() != (PIPELINES, 3 * PIPELINES):
            for watch in watches:
                if watch.done():
                    watch.result()  # a failed watch: its error, not a timeout
            if time.monotonic() - started > CONVERGE_TIMEOUT:
                paused, settled = seen.counts()
                raise RuntimeError(
                    f"not converged in {CONVERGE_TIMEOUT:g}s: {paused} Paused, {settled} vertices"
                )
            seen.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(seen.changed.wait(), 1.0)
        converge = time.monotonic() - started
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        # steady: no reconcile for SETTLE_QUIET seconds (periodic requeues excepted, reported below)
        while True:
            lines = [e for e in reconcile_lines(controller_log)[before:] if e[1] in CONVERGING]
            if lines and time.time() - lines[-1][0] >= SETTLE_QUIET:
                break
            if time.monotonic() - started > CONVERGE_TIMEOUT:
                break
            await asyncio.sleep(1.0)
        steady_at = time.time() - SETTLE_QUIET
        lines = [e for e in reconcile_lines(controller_log)[before:] if started_wall - 1 <= e[0] <= steady_at]
        # Steady state: touch every pipeline (an annotation, no spec change) so each is reconciled once more
        # with nothing to do; those reconciles are the latency of a pipeline that is already converged.
        mark = len(reconcile_lines(controller_log))
        await in_flight(
            PIPELINES,
            lambda i: kube.patch(
                PIPELINE, NAMESPACE, f"p{i:03d}", {"metadata": {"annotations": {"bench": "1"}}}
            ),
        )
        touched = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            touched = [e for e in reconcile_lines(controller_log)[mark:] if e[1] == "pipeline"]
            if len(touched) >= PIPELINES and time.time() - touched[-1][0] >= SETTLE_QUIET:
                break
            await asyncio.sleep(1.0)
        floor = await baseline(kube, 3 * PIPELINES)
        return {
            "created": created,
            "converge": converge,
            "lines": lines,
            "touched": touched,
            "floor": floor,
            "started_wall": started_wall,
        }
    finally:
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        await api.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="numaflux-bench-cp-") as tmp:
        root = Path(tmp)
        data_dir = root / "local"
        data_dir.mkdir()
        apiserver = kubelet = controller = None
        controller_log = root / "controller.log"
        try:
            apiserver = start(root / "apiserver.log", "numaflux.apiserver", "--dir", str(data_dir))
            wait_for(
                lambda: (data_dir / "kubeconfig").exists() and (data_dir / "apiserver.json").exists(),
                "API server",
                60,
            )
            kubelet = start(
                root / "kubelet.log", "numaflux.kubelet", "--dir", str(data_dir), "--node-name", "bench"
            )
            wait_for(lambda: agent.is_ready(data_dir), "kubelet", 60)
            controller = start(
                controller_log,
                "numaflux",
                "controller",
                "--local-data-dir",
                str(data_dir),
                "--log-reconcile-times",
                "--metrics-port",
                "-1",
            )
            wait_for(lambda: (data_dir / "run" / "controller.ready").exists(), "controller", 90)
            asyncio.run(start_isb(data_dir))
            # pods keep running without their kubelet; the daemon pods to come stay Pending objects
            kubelet.kill()
            kubelet.wait()
            result = asyncio.run(measure(data_dir, controller_log))
            result["ensures"] = ensure_lines(controller_log)
        finally:
            stop(controller)
            if kubelet is not None and kubelet.poll() is None:
                kubelet.kill()
            stop(apiserver)
            for processes in find_leftovers(data_dir).values():
                for leftover in processes.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(leftover.pid, signal.SIGKILL)
            keep = os.environ.get("NUMAFLUX_BENCH_KEEP_LOGS")
            if keep:  # for diagnosis: the processes' logs, reconcile timings included
                Path(keep).mkdir(parents=True, exist_ok=True)
                for log in root.glob("*.log"):
                    shutil.copy(log, Path(keep) / log.name)
    lines = result["lines"]
    seconds = [s for _, _, s in lines]
    span = (lines[-1][0] - lines[0][0]) if len(lines) > 1 else float("nan")
    converging = [s for _, c, s in lines if c in CONVERGING]
    per = Counter(ctrl for _, ctrl, _ in lines)
    print(
        f"control plane: {PIPELINES} pipelines x 3 vertices, desiredPhase Paused "
        f"({platform.machine()}, {os.cpu_count()} cpus, {platform.python_version()})"
    )
    print(
        f"  created in {result['created']:.1f}s; all Paused and every vertex settled after "
        f"{result['converge']:.1f}s"
    )
    print(
        f"  reconciles: {len(lines)} ({', '.join(f'{k} {v}' for k, v in sorted(per.items()))}) "
        f"over {span:.1f}s -> {len(lines) / span:.1f} reconciles/s"
    )
    print(
        f"  reconcile latency: p50 {percentile(seconds, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(seconds, 0.99) * 1000:.1f} ms, max {max(seconds) * 1000:.1f} ms "
        "(target p99 < 100 ms)"
    )
    print(
        f"  {'+'.join(CONVERGING)} only: {len(converging)} reconciles -> {len(converging) / span:.1f}/s, "
        f"p50 {percentile(converging, 0.5) * 1000:.1f} ms, p99 {percentile(converging, 0.99) * 1000:.1f} ms"
    )
    for ctrl in sorted(per):
        mine = [s for _, c, s in lines if c == ctrl]
        print(
            f"    {ctrl:<12} {len(mine):>5} reconciles  p50 {percentile(mine, 0.5) * 1000:.1f} ms  "
            f"p99 {percentile(mine, 0.99) * 1000:.1f} ms"
        )
    ensures = [e for e in result["ensures"] if e[0] >= result["started_wall"] - 1]
    if ensures:
        took = [s for _, s in ensures]
        print(
            f"  ISB ensures (streams, consumers, buckets; run beside the pipeline reconciles, not inside): "
            f"{len(ensures)}, p50 {percentile(took, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(took, 0.99) * 1000:.1f} ms, the last done "
            f"{max(w for w, _ in ensures) - result['started_wall']:.1f}s after the creates began"
        )
    touched = [s for _, _, s in result["touched"]]
    if touched:
        print(
            f"  steady state (each pipeline reconciled again, nothing to do): {len(touched)} reconciles, "
            f"p50 {percentile(touched, 0.5) * 1000:.1f} ms, p99 {percentile(touched, 0.99) * 1000:.1f} ms"
        )
    floor_rate = 3 * PIPELINES / result["floor"]
    print(
        f"  baseline: plain client create+get {floor_rate:.1f} objects/s "
        f"(vertices created by the controller: {3 * PIPELINES / result['converge']:.1f}/s, "
        f"ratio {(3 * PIPELINES / result['converge']) / floor_rate:.2f})"
    )
    print(f"  measured {statistics.mean(seconds) * 1000:.1f} ms mean reconcile")
