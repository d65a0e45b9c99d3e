"""The controller manager: shared informers, leader election, the controllers, graceful shutdown.

Informers run from the start (a standby has warm caches); controllers run only while this process
holds the lease. Losing the lease stops them (their in-flight reconciles finish) and the manager
campaigns again. On `stop` it drains in-flight reconciles, releases the lease and stops the watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Awaitable
from typing import Literal

from numaflux.controller.clock import Clock, SystemClock
from numaflux.controller.config import ControllerConfig, Mode
from numaflux.controller.controller import Controller
from numaflux.controller.events import EventRecorder
from numaflux.controller.informer import Informer, InformerFactory
from numaflux.controller.kube import Kind, KubeClient
from numaflux.controller.leader import LeaderElector
from numaflux.controller.logs import kv
from numaflux.controller.metrics import MetricsServer, registry_for

log = logging.getLogger(__name__)

CONTROLLER_MODULES: tuple[str, ...] = (
    "numaflux.controller.workloads.deployment",
    "numaflux.controller.workloads.statefulset",
    "numaflux.controller.isbsvc.controller",
    "numaflux.controller.pipeline.controller",
    "numaflux.controller.vertex.controller",
)
"""Modules exposing `setup(manager: Manager) -> None`; each registers its controller(s)."""


class Manager:
    """Owns the client, caches, event recorder and controllers of one controller process."""

    def __init__(self, kube: KubeClient, config: ControllerConfig, clock: Clock | None = None) -> None:
        self.kube = kube
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.informers = InformerFactory(kube, config.namespace)
        self.recorder = EventRecorder(kube, clock=self.clock)
        self.elector = LeaderElector(kube, config.leader, self.clock)
        self.controllers: list[Controller] = []
        self.leading = asyncio.Event()
        self._informer_tasks: list[asyncio.Task[None]] = []
        self.metrics: MetricsServer | None = None
        if config.metrics_port is not None:
            self.metrics = MetricsServer(
                registry_for(self.informers, self.leading.is_set),
                config.get_metrics_host(),
                config.metrics_port,
                fallback=config.mode is Mode.LOCAL,
                address_file=config.metrics_address_file(),
            )

    def informer(self, kind: Kind) -> Informer:
        """The shared informer of `kind` (created on first use, started by `run`)."""
        return self.informers.informer(kind)

    def add(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        return controller

    def setup_all(self, modules: tuple[str, ...] = CONTROLLER_MODULES) -> None:
        """Import each module and call its `setup(self)`."""
        for name in modules:
            importlib.import_module(name).setup(self)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set."""
        self._clear_stale_ready_file()
        if self.metrics is not None:
            await self.metrics.start()
        for informer in self.informers.informers.values():
            self._informer_tasks.append(asyncio.create_task(informer.run(), name=f"informer-{informer.kind}"))
        try:
            while not stop.is_set():
                if self.config.leader_elect and not await _until_stopped(self.elector.acquire(), stop):
                    break
                if not await _until_stopped(self.informers.wait_synced(), stop):
                    break
                await self._lead(stop)
        finally:
            self._remove_ready_file()
            await self.elector.release()
            for task in self._informer_tasks:
                task.cancel()
            await asyncio.gather(*self._informer_tasks, return_exceptions=True)
            await self.recorder.flush()
            if self.metrics is not None:
                await self.metrics.stop()

    async def _lead(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(c.run(), name=f"controller-{c.name}") for c in self.controllers]
        self.leading.set()
        self._write_ready_file()
        hold = asyncio.create_task(self.elector.hold()) if self.config.leader_elect else None
        stopper = asyncio.create_task(stop.wait())
        waiting: set[asyncio.Task[None] | asyncio.Task[Literal[True]]] = {stopper, *tasks}
        if hold is not None:
            waiting.add(hold)
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in tasks and task.exception() is not None:
                    log.error(kv("controller crashed", error=repr(task.exception())))
        finally:
            self.leading.clear()
            self._remove_ready_file()
            for controller in self.controllers:
                controller.stop()
            drained = await asyncio.wait(tasks, timeout=self.config.shutdown_timeout) if tasks else None
            if drained is not None and drained[1]:
                log.warning(kv("reconciles still running at shutdown; cancelling", count=len(drained[1])))
                for task in drained[1]:
                    task.cancel()
                await asyncio.gather(*drained[1], return_exceptions=True)
            for aux in (hold, stopper):
                if aux is not None:
                    aux.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await aux

    def _write_ready_file(self) -> None:
        path = self.config.ready_file()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.config.leader.identity + "\n")

    def _clear_stale_ready_file(self) -> None:
        """A ready file whose writer (`host_pid_suffix` inside) is gone was left by a crash."""
        path = self.config.ready_file()
        if path is None or not path.exists():
            return
        parts = path.read_text().strip().split("_")
        pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
        if pid is None or not _alive(pid):
            path.unlink(missing_ok=True)

    def _remove_ready_file(self) -> None:
        path = self.config.ready_file()
        if path is not None:
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first; True if the work finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        if pending not in done:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task in done:
        task.result()
        return True
    return False
