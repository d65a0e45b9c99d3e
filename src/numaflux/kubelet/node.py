"""The local kubelet's pod runtime: runs the pods handed to it and reports their status.

It needs no API server; `numaflux.kubelet.agent` connects it to one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numaflux.kubelet import images, paths, sandbox
from numaflux.kubelet.adopted import Leftover, find_leftovers, process_start
from numaflux.kubelet.backoff import BackoffPolicy
from numaflux.kubelet.context import PodContext
from numaflux.kubelet.ipam import AddressPool, first_address_for
from numaflux.kubelet.pod import PodRuntime
from numaflux.kubelet.resolver import NoObjects, ObjectResolver

EventCallback = Callable[[dict[str, Any], str, str, str, str], None]
"""(pod, type, reason, message, fieldPath) → None; the agent turns these into Events."""


@dataclass
class KubeletConfig:
    """Settings of the local kubelet."""

    data_dir: Path
    node_name: str = field(default_factory=socket.gethostname)
    host_ip: str = "127.0.0.1"
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    resolver: ObjectResolver = field(default_factory=NoObjects)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Added to every container's base environment (e.g. KUBECONFIG for our own processes)."""
    default_working_dir: Path = field(default_factory=Path.cwd)
    """Working directory of containers without `workingDir`."""
    on_event: EventCallback | None = None
    adopt: bool = True
    shutdown_grace: float = 15.0
    """Cap on pods' grace periods when the agent stops (keep below the supervisor's stop timeout)."""
    """Take over containers an earlier kubelet left running (else kill them at start)."""


@dataclass(frozen=True)
class PodStatusUpdate:
    """A pod whose status may have changed, with its current status."""

    namespace: str
    name: str
    uid: str
    status: dict[str, Any]


class Kubelet:
    """Runs Pod objects (dicts) as local processes, keyed by pod uid."""

    def __init__(self, config: KubeletConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.pods: dict[str, PodRuntime] = {}
        self._addresses: AddressPool | None = None
        self._mount_points: sandbox.MountPoints | None = None
        self._subscribers: list[tuple[asyncio.Queue[str], set[str]]] = []
        self._terminations: dict[str, asyncio.Task[None]] = {}
        self._leftovers: dict[str, dict[str, Leftover]] = {}

    async def start(self) -> None:
        """Check pods can be isolated, load address allocations, kill processes left by an earlier run."""
        sandbox.check_available()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._addresses = AddressPool(
            paths.ip_allocations_path(self.data_dir), first_address_for(self.data_dir)
        )
        self._mount_points = sandbox.MountPoints(paths.mount_points_path(self.data_dir))
        self._leftovers = find_leftovers(self.data_dir)
        if not self.config.adopt:
            self.kill_unclaimed()

    @property
    def addresses(self) -> AddressPool:
        if self._addresses is None:
            raise RuntimeError("Kubelet.start() has not been called")
        return self._addresses

    @property
    def mount_points(self) -> sandbox.MountPoints:
        if self._mount_points is None:
            raise RuntimeError("Kubelet.start() has not been called")
        return self._mount_points

    # -- pods --------------------------------------------------------------------------------------

    def sync_pod(self, pod: dict[str, Any]) -> PodRuntime:
        """Run a pod not yet running here; a pod with deletionTimestamp is terminated in the background."""
        uid = str(pod["metadata"]["uid"])
        runtime = self.pods.get(uid)
        if runtime is None:
            runtime = self._create(pod)
        else:
            runtime.ctx.pod["metadata"] = pod["metadata"]
        if pod["metadata"].get("deletionTimestamp") and uid not in self._terminations:
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            self._terminations[uid] = asyncio.create_task(
                runtime.terminate(None if grace is None else float(grace))
            )
        return runtime

    async def terminate_pod(self, uid: str, grace: float | None = None) -> None:
        """Stop a pod's containers (grace from the argument, else the pod spec) and wait until stopped."""
        runtime = self.pods.get(uid)
        if runtime is None:
            return
        task = self._terminations.get(uid)
        if task is None:
            task = self._terminations[uid] = asyncio.create_task(runtime.terminate(grace))
        await task

    async def remove_pod(self, uid: str) -> None:
        """Forget a pod: kill what still runs, release its address and delete its directory."""
        runtime = self.pods.get(uid)
        if runtime is None:
            return
        if not runtime.done.is_set():
            await self.terminate_pod(uid, 0)
        self.pods.pop(uid, None)
        self._terminations.pop(uid, None)
        self.addresses.release(uid)
        self.mount_points.release(uid)
        ctx = runtime.ctx
        if not any((p.ctx.namespace, p.ctx.name) == (ctx.namespace, ctx.name) for p in self.pods.values()):
            shutil.rmtree(paths.pod_dir(self.data_dir, ctx.namespace, ctx.name), ignore_errors=True)
        self._notify(uid)

    def kill_unclaimed(self) -> list[int]:
        """SIGKILL processes left by an earlier kubelet that no synced pod adopted; returns their pids."""
        killed = []
        for processes in self._leftovers.values():
            for leftover in processes.values():
                if process_start(leftover.pid) == leftover.start:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(leftover.pid, signal.SIGKILL)
                    killed.append(leftover.pid)
        self._leftovers.clear()
        return killed

    def forget_missing(self, existing_uids: set[str]) -> None:
        """After a restart and a first sync: kill unadopted leftovers, release addresses and directories
        of pods that no longer exist."""
        self.kill_unclaimed()
        for uid in self.addresses.uids() - existing_uids - set(self.pods):
            self.addresses.release(uid)
        for uid in self.mount_points.users() - existing_uids - set(self.pods):
            self.mount_points.release(uid)
        root = paths.pods_dir(self.data_dir)
        for record in root.glob("*/*/pod.json"):
            owner = _record_uid(record)
            if owner is None or (owner not in existing_uids and owner not in self.pods):
                shutil.rmtree(record.parent, ignore_errors=True)

    def status(self, uid: str) -> dict[str, Any] | None:
        """Current status of a pod run here."""
        runtime = self.pods.get(uid)
        return None if runtime is None else runtime.status()

    async def status_updates(self) -> AsyncIterator[PodStatusUpdate]:
        """Every status change, coalesced per pod; removed pods are not reported."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        pending: set[str] = set()
        entry = (queue, pending)
        self._subscribers.append(entry)
        try:
            while True:
                uid = await queue.get()
                pending.discard(uid)
                runtime = self.pods.get(uid)
                if runtime is None:
                    continue
                ctx = runtime.ctx
                yield PodStatusUpdate(ctx.namespace, ctx.name, uid, runtime.status())
        finally:
            self._subscribers.remove(entry)

    async def shutdown(self, max_grace: float | None = None) -> None:
        """Stop every pod within its own grace period, capped at `max_grace` seconds if given."""

        def grace(runtime: PodRuntime) -> float:
            own = runtime.ctx.grace_period
            return own if max_grace is None else min(own, max_grace)

        await asyncio.gather(*(self.terminate_pod(uid, grace(rt)) for uid, rt in list(self.pods.items())))

    # -- internals ---------------------------------------------------------------------------------

    def _create(self, pod: dict[str, Any]) -> PodRuntime:
        meta = pod["metadata"]
        uid, namespace, name = str(meta["uid"]), meta.get("namespace", "default"), meta["name"]
        _claim_pod_dir(self.data_dir, namespace, name, uid)
        pod_ip = self.addresses.allocate(uid, namespace, name)
        runtime_ref: list[PodRuntime] = []

        def on_event(kind: str, reason: str, message: str, field_path: str) -> None:
            if self.config.on_event is not None:
                self.config.on_event(pod, kind, reason, message, field_path)

        def on_pids() -> None:
            if runtime_ref:
                runtime_ref[0].write_record()

        ctx = PodContext(
            data_dir=self.data_dir,
            pod=pod,
            pod_ip=pod_ip,
            host_ip=self.config.host_ip,
            resolver=self.config.resolver,
            image_map=lambda: images.load_image_map(self.data_dir),
            backoff=self.config.backoff,
            default_working_dir=str(self.config.default_working_dir),
            extra_env=self.config.extra_env,
            notify=lambda: self._notify(uid),
            event=on_event,
            mount_points=self.mount_points,
            on_pids=on_pids,
        )
        runtime = PodRuntime(ctx, self._leftovers.pop(uid, None))
        runtime_ref.append(runtime)
        runtime.write_record()
        self.pods[uid] = runtime
        runtime.start()
        self._notify(uid)
        return runtime

    def notify(self, uid: str) -> None:
        """Report the pod's status to subscribers again (e.g. after a failed write)."""
        self._notify(uid)

    def _notify(self, uid: str) -> None:
        for queue, pending in self._subscribers:
            if uid not in pending:
                pending.add(uid)
                queue.put_nowait(uid)


def _record_uid(record: Path) -> str | None:
    try:
        return str(json.loads(record.read_text()).get("uid"))
    except (OSError, ValueError):
        return None


def _claim_pod_dir(data_dir: Path, namespace: str, name: str, uid: str) -> None:
    """A pod directory left by an earlier pod of the same name (other uid) is cleared: fresh volumes, logs."""
    record = paths.pod_record_path(data_dir, namespace, name)
    if record.exists() and _record_uid(record) != uid:
        shutil.rmtree(record.parent, ignore_errors=True)
