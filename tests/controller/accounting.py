"""Message accounting for the lifecycle tests on the local cluster.

Numbered messages (`msg-00042`) go in through a pipeline's HTTP source; an id counts as *accepted* once the
source answered 200 (written to the ISB). A recorder keeps reading the log sink's output (pod directories
vanish with the pod, so it polls). At the end, `lost` = accepted ids never seen at the sink (must be 0) and
`duplicates` = extra deliveries (at-least-once allows them; they are reported, not asserted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import aiohttp

from numaflux.controller.kube import ISB_SERVICE, PIPELINE, POD, KubeClient
from numaflux.kubelet import paths
from numaflux.kubelet.adopted import find_leftovers
from numaflux.local.lifecycle import BufferReader

from .cluster import Cluster, Process
from .helpers import get_or_none, is_ready, until
from .test_pipeline_e2e import all_vertex_pods, isb_url

PAYLOAD = re.compile(r"Payload - (msg-\d+) Keys - ")


def message_id(i: int) -> str:
    return f"msg-{i:05d}"


class SinkRecorder:
    """Reads every sink container's log as it grows, through file handles it keeps open.

    It watches the pod directories on disk (no API call between a pod's start and the first read), and an
    open handle still reads a file whose pod directory was deleted with the pod, so a sink pod that is
    scaled away right after writing is counted in full.
    """

    def __init__(self, cluster: Cluster, kube: KubeClient, namespace: str, sink_prefix: str) -> None:
        self.cluster, self.kube, self.namespace, self.prefix = cluster, kube, namespace, sink_prefix
        self._files: dict[tuple[str, int], tuple[BinaryIO, bytearray]] = {}
        self._counts: Counter[str] = Counter()

    def _open_new(self) -> None:
        root = paths.pods_dir(self.cluster.data_dir) / self.namespace
        try:
            pods = [p for p in root.iterdir() if p.name.startswith(self.prefix)]
        except FileNotFoundError:
            return
        logs: list[Path] = []
        for pod in pods:
            # the kubelet removes a deleted pod's directory at any moment, even mid-listing
            with contextlib.suppress(FileNotFoundError):
                logs += pod.glob("numa.log*")
        for path in logs:
            with contextlib.suppress(FileNotFoundError):
                ino = path.stat().st_ino
                key = (path.parent.name, ino)
                if key not in self._files:
                    f = path.open("rb")
                    if os.fstat(f.fileno()).st_ino != ino:  # replaced between stat and open
                        f.close()
                        continue
                    self._files[key] = (f, bytearray())

    def _read_all(self) -> None:
        for f, partial in self._files.values():
            chunk = f.read()
            if not chunk:
                continue
            partial.extend(chunk)
            complete, newline, rest = bytes(partial).rpartition(b"\n")
            if newline:
                self._counts.update(PAYLOAD.findall(complete.decode(errors="replace")))
                partial[:] = rest

    async def poll(self) -> None:
        try:
            while True:
                self._open_new()
                self._read_all()
                await asyncio.sleep(0.05)
        finally:
            self.close()

    def close(self) -> None:
        for f, _ in self._files.values():
            f.close()
        self._files.clear()

    def counts(self) -> Counter[str]:
        self._read_all()
        return Counter(self._counts)


@dataclass(frozen=True)
class Tally:
    accepted: int
    distinct_at_sink: int
    lost: list[str]
    duplicates: int

    def line(self) -> str:
        return (
            f"accepted {self.accepted}, at sink {self.distinct_at_sink} distinct, lost {len(self.lost)}, "
            f"duplicates {self.duplicates}"
        )


class Accounting:
    """Numbered messages into `PIPELINE-SOURCE` pods over HTTP, ids recorded at `PIPELINE-SINK` pods.

    Use as `async with Accounting(...) as acct:`; the recorder runs in the background meanwhile.
    """

    def __init__(
        self,
        cluster: Cluster,
        kube: KubeClient,
        namespace: str,
        *,
        pipeline: str = "pl",
        source: str = "in",
        sink: str = "out",
        port: int = 8090,
    ) -> None:
        self.kube, self.namespace = kube, namespace
        self.pipeline, self.source, self.port = pipeline, source, port
        self.recorder = SinkRecorder(cluster, kube, namespace, f"{pipeline}-{sink}-")
        self.accepted: set[str] = set()
        self.refusals: list[str] = []
        self.next_id = 0
        self._poller: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Accounting:
        self._poller = asyncio.create_task(self.recorder.poll())
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use Accounting as an async context manager"
        return self._session

    async def source_urls(self) -> list[str]:
        prefix = f"{self.pipeline}-{self.source}-"
        return [
            f"http://{p['status']['podIP']}:{self.port}/vertices/{self.source}"
            for p in await all_vertex_pods(self.kube, self.namespace)
            if p["metadata"]["name"].startswith(prefix)
            and not p["metadata"].get("deletionTimestamp")
            and is_ready(p)
            and (p.get("status") or {}).get("podIP")
        ]

    def take_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    async def send_one(self, url: str, i: int, attempts: int = 1) -> bool:
        """POST message `i` (429 retried; 5xx and connection errors retried up to `attempts`, same id).
        True once the source answers 200; every refusal is kept in `refusals` for the report."""
        name = message_id(i)
        failures = 0
        for _ in range(50):
            try:
                async with self.session.post(url, data=name.encode(), headers={"X-Numaflow-Id": name}) as r:
                    if r.status == 200:
                        self.accepted.add(name)
                        return True
                    self.refusals.append(f"{name} {url}: {r.status} {(await r.text())[:100]}")
                    if r.status < 500 and r.status != 429:
                        return False
                    failures += r.status != 429
            except (aiohttp.ClientError, TimeoutError) as err:
                self.refusals.append(f"{name} {url}: {type(err).__name__} {err}")
                failures += 1
            if failures >= attempts:
                return False
            await asyncio.sleep(0.2)
        return False

    async def send(self, n: int, *, senders: int = 4, attempts: int = 1) -> int:
        """Send `n` new numbered messages round-robin over the Ready source pods (looked up again after a
        refusal); the number accepted."""
        urls = await self.source_urls()
        if not urls:
            return 0
        ids = self.take_ids(n)
        before = len(self.accepted)

        async def sender(k: int) -> None:
            nonlocal urls
            for i in ids[k::senders]:
                if not await self.send_one(urls[i % len(urls)], i, attempts):
                    # the pod may be going (a rollout, a scale-down): ask again, as a Service would
                    urls = await self.source_urls() or urls

        await asyncio.gather(*(sender(k) for k in range(senders)))
        return len(self.accepted) - before

    def start_sending(self, n: int, *, senders: int = 4) -> asyncio.Task[int]:
        """`send` in the background (to pause or fault while messages are still coming in)."""
        return asyncio.create_task(self.send(n, senders=senders))

    async def source_ready(self, within: float = 60) -> None:
        """Wait for a Ready source pod (a rollout, e.g. after a controller upgrade, may be replacing it)."""

        async def some() -> list[str] | None:
            return await self.source_urls() or None

        await until(some, "a Ready source pod to send to", within)

    async def send_all(self, n: int, within: float = 60) -> None:
        """Send `n` messages that must all be accepted (the pipeline is Running and Ready)."""

        async def sent() -> bool:
            urls = await self.source_urls()
            return bool(urls) and all([await self.send_one(urls[i % len(urls)], i, 25) for i in ids])

        ids = self.take_ids(n)
        try:
            await until(sent, f"{n} messages accepted", within)
        except AssertionError as err:
            raise AssertionError(f"{err}; last refusals {self.refusals[-3:]}") from None

    def tally(self) -> Tally:
        counts = self.recorder.counts()
        return Tally(
            accepted=len(self.accepted),
            distinct_at_sink=len(counts),
            lost=sorted(self.accepted - set(counts)),
            duplicates=sum(n - 1 for n in counts.values() if n > 1),
        )

    async def settle(self, within: float = 60) -> Tally:
        """Wait for every accepted id at the sink (up to `within`); the tally either way."""

        async def arrived() -> bool:
            return self.accepted <= set(self.recorder.counts())

        with contextlib.suppress(AssertionError):
            await until(arrived, "every accepted message at the sink", within)
        return self.tally()

    async def assert_nothing_lost(self, label: str, within: float = 60) -> Tally:
        """`lost == 0` (after waiting up to `within` for stragglers); prints the tally with duplicates."""
        tally = await self.settle(within)
        print(f"\n{label}: {tally.line()}")
        if tally.lost:
            raise AssertionError(
                f"{label}: {len(tally.lost)} accepted messages never reached the sink: {tally.lost[:20]}; "
                f"{tally.line()}; refusals {self.refusals[-5:]}; {await self.describe()}"
            )
        return tally

    async def describe(self) -> str:
        """Buffers (pending/ackPending) and vertex pods (ready, restarts), for a failure message."""
        parts: list[str] = []
        with contextlib.suppress(Exception):
            pl = await self.kube.get(PIPELINE, self.namespace, self.pipeline)
            parts.append(f"pipeline {(pl.get('status') or {}).get('phase')}")
            reader = BufferReader(self.kube)
            try:
                for info in await reader.read(pl):
                    parts.append(f"{info.buffer} pending={info.pending} ackPending={info.ack_pending}")
            finally:
                await reader.close()
        with contextlib.suppress(Exception):
            for p in await all_vertex_pods(self.kube, self.namespace):
                restarts = sum(
                    cs.get("restartCount", 0) for cs in (p.get("status") or {}).get("containerStatuses") or []
                )
                parts.append(f"pod {p['metadata']['name']} ready={is_ready(p)} restarts={restarts}")
        return "; ".join(parts)


ACK_WAIT = 5
"""Seconds before JetStream redelivers what a crashed reader held (NumaFlow's default is 60 s). A drain
can only finish after that, so the fault tests keep it well inside their pause and deletion grace."""


async def create_isb_for_faults(kube: KubeClient, namespace: str) -> None:
    """The ISB service `default` with consumer ackWait ACK_WAIT, once Running with a URL."""
    await kube.create(
        ISB_SERVICE,
        {
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {
                "jetstream": {"version": "latest", "bufferConfig": f"consumer:\n  ackWait: {ACK_WAIT}s\n"}
            },
        },
    )
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)


# --- faults -------------------------------------------------------------------------------------------


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


async def isb_pod(kube: KubeClient, namespace: str) -> tuple[str, str, str]:
    """(name, IP, uid) of the ISB service's one JetStream pod, once it has an IP."""

    async def found() -> tuple[str, str, str] | None:
        pods = [
            p
            for p in (await kube.list(POD, namespace)).get("items") or []
            if p["metadata"]["name"].startswith("isbsvc-default-js-")
            and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("podIP")
        ]
        if not pods:
            return None
        meta = pods[0]["metadata"]
        return (meta["name"], pods[0]["status"]["podIP"], meta["uid"])

    return await until(found, "the ISB pod has an IP", 60)


async def isb_ready_again(kube: KubeClient, namespace: str, name: str, ip: str, within: float = 90) -> None:
    async def ready_again() -> bool:
        current = await get_or_none(kube, POD, namespace, name)
        return current is not None and is_ready(current) and bool(nats_server_pids(ip))

    await until(ready_again, "ISB pod Ready again (nats-server restarted by the kubelet)", within)


async def restart_nats_server(kube: KubeClient, namespace: str) -> float:
    """kill -9 the ISB pod's nats-server once; the kubelet restarts it. Returns seconds until Ready."""
    name, ip, _ = await isb_pod(kube, namespace)
    pids = await until(lambda: _pids(ip), f"nats-server of {name} at {ip}", 30)
    started = time.monotonic()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    async def replaced() -> bool:
        return bool(set(nats_server_pids(ip)) - set(pids))

    # The pod still reads Ready until the kubelet notices; a new process is the sign of the restart.
    await until(replaced, f"a new nats-server for {name}", 90)
    await isb_ready_again(kube, namespace, name, ip)
    return time.monotonic() - started


async def make_isb_unhealthy_then_healthy(
    kube: KubeClient, namespace: str, while_down: asyncio.Future[object] | None = None
) -> float:
    """Kill the ISB pod's nats-server (kill -9, repeatedly) until its pod is not Ready; await `while_down`
    if given (still killing meanwhile); then let the kubelet bring it back and wait for Ready. Returns the
    seconds the pod was not Ready."""
    name, ip, _ = await isb_pod(kube, namespace)
    assert nats_server_pids(ip), f"no nats-server found for ISB pod {name} at {ip}"

    def kill() -> None:
        for pid in nats_server_pids(ip):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def killed_until_not_ready() -> bool:
        kill()
        return not is_ready(await kube.get(POD, namespace, name))

    await until(killed_until_not_ready, "ISB pod not Ready after killing its nats-server", 60)
    down = time.monotonic()
    if while_down is not None:
        # Held down by freezing the restarted nats-server (SIGSTOP; its probes fail) rather than killing it
        # again and again, which would pile up the kubelet's crash back-off; thawed afterwards.
        frozen: set[int] = set()

        async def keep_down() -> None:
            while True:
                for pid in set(nats_server_pids(ip)) - frozen:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGSTOP)
                        frozen.add(pid)
                await asyncio.sleep(0.1)

        keeper = asyncio.create_task(keep_down())
        try:
            await while_down
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
    await isb_ready_again(kube, namespace, name, ip)
    return time.monotonic() - down


async def _pids(ip: str) -> list[int] | None:
    return nats_server_pids(ip) or None


async def restart_controller(cluster: Cluster, *extra: str) -> Process:
    """Start a controller manager (after a SIGKILL the ready file is stale) and wait until it leads."""
    cluster.ready_file.unlink(missing_ok=True)
    proc = cluster.controller(*extra)
    try:
        await until(lambda: asyncio.to_thread(cluster.ready_file.exists), "controller ready", 90)
    except AssertionError as err:
        raise AssertionError(f"{err}; its output: {proc.output()[-2000:]}") from None
    return proc


async def replace_controller(cluster: Cluster, old: Process, *extra: str, kill: bool = True) -> Process:
    """Replace the leading controller: a new process is started first and waits for the lease (it does
    nothing until it leads, so this is the same as starting it after the old one is gone, minus the
    start-up time); then the old one is SIGKILLed (`kill`) or stopped with SIGTERM (an upgrade). Returns the
    new one once it leads with synced caches."""
    new = cluster.controller("--no-install-crds", *extra)
    try:
        await until(lambda: _logged(new, "waiting for the leader lease"), "new controller started", 60)
        if kill:
            old.kill()
            cluster.ready_file.unlink(missing_ok=True)  # left behind by the SIGKILL
        else:
            assert old.terminate() == 0, old.output()[-3000:]
        await until(lambda: _logged(new, "became leader"), "new controller leads", 60)
        await until(lambda: asyncio.to_thread(cluster.ready_file.exists), "new controller ready", 60)
    except BaseException:
        new.terminate()
        raise
    return new


async def _logged(proc: Process, text: str) -> bool:
    return text in await asyncio.to_thread(proc.output)


async def running_pod(
    cluster: Cluster, kube: KubeClient, namespace: str, prefix: str, container: str = "numa"
) -> tuple[str, int] | None:
    """(name, pid of `container`) of one live pod whose name starts with `prefix` and whose container
    process runs, or None."""
    leftovers = find_leftovers(cluster.data_dir)
    pods = (await kube.list(POD, namespace)).get("items") or []
    for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if not p["metadata"]["name"].startswith(prefix) or p["metadata"].get("deletionTimestamp"):
            continue
        proc = leftovers.get(p["metadata"]["uid"], {}).get(container)
        if proc is not None:
            return str(p["metadata"]["name"]), proc.pid
    return None


async def kill_pod(
    cluster: Cluster, kube: KubeClient, namespace: str, prefix: str, container: str = "numa"
) -> str | None:
    """kill -9 the process of `container` in one live pod whose name starts with `prefix` (the kubelet
    restarts it). The pod's name, or None when there is no such pod with that container running."""
    found = await running_pod(cluster, kube, namespace, prefix, container)
    if found is None:
        return None
    name, pid = found
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return name
