"""One pod on this node: its sandbox (address, volumes, private mounts) and its containers in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from numaflux.kubelet import paths, status
from numaflux.kubelet.adopted import Leftover, process_start
from numaflux.kubelet.container import ContainerRunner
from numaflux.kubelet.context import PodContext
from numaflux.kubelet.env import ContainerConfigError
from numaflux.kubelet.timefmt import rfc3339
from numaflux.kubelet.volumes import prepare_volumes

MIN_SIDECAR_GRACE = 2.0


class PodRuntime:
    """Runs a pod: init containers one by one, native sidecars kept running, then the main containers.

    `status()` is the pod status a kubelet would write; `ctx.notify` is called whenever it may have changed.
    """

    def __init__(self, ctx: PodContext, adopt: Mapping[str, Leftover] | None = None) -> None:
        """`adopt`: container name → process of this pod left running by an earlier kubelet."""
        self.ctx = ctx
        self.adopted = dict(adopt or {})
        ctx.pids.update({name: leftover.pid for name, leftover in self.adopted.items()})
        spec = ctx.pod.get("spec") or {}
        self.inits = [
            ContainerRunner(ctx, c, "sidecar" if c.get("restartPolicy") == "Always" else "init")
            for c in spec.get("initContainers") or []
        ]
        self.mains = [ContainerRunner(ctx, c, "main") for c in spec.get("containers") or []]
        previous = ctx.pod.get("status") or {}
        by_name = {s["name"]: s for s in (previous.get("containerStatuses") or [])}
        by_name.update({s["name"]: s for s in (previous.get("initContainerStatuses") or [])})
        for runner in [*self.inits, *self.mains]:
            runner.seed(by_name.get(runner.name))
            if runner.name in self.adopted:
                runner.adopt(self.adopted[runner.name].pid)
        self.start_time = time.time()
        if previous.get("startTime"):
            self._start_time_text: str = previous["startTime"]
        else:
            self._start_time_text = rfc3339(self.start_time)
        self._conditions: list[dict[str, Any]] = list(previous.get("conditions") or [])
        self._sandbox_ready = False
        self._sandbox_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._terminating = False
        self.done = asyncio.Event()
        """Set when every container has finished (pod Succeeded/Failed, or terminated)."""

    @property
    def key(self) -> str:
        return f"{self.ctx.namespace}/{self.ctx.name}"

    def start(self) -> None:
        """Begin running the pod in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"pod {self.key}")

    async def terminate(self, grace: float | None = None) -> None:
        """Stop main containers (SIGTERM, SIGKILL after the grace), then sidecars in reverse order."""
        self._terminating = True
        grace = self.ctx.grace_period if grace is None else grace
        deadline = time.monotonic() + grace
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_all(deadline)
        self.done.set()
        self.ctx.notify()

    async def _stop_all(self, deadline: float) -> None:
        remaining = max(deadline - time.monotonic(), 0.0)
        regular = [r for r in self.inits if r.role == "init"]
        await asyncio.gather(*(r.stop(remaining) for r in [*self.mains, *regular]))
        for sidecar in reversed([r for r in self.inits if r.role == "sidecar"]):
            remaining = max(deadline - time.monotonic(), MIN_SIDECAR_GRACE)
            await sidecar.stop(remaining)

    async def _run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._prepare_sandbox()
            for runner in self.inits:
                if self.adopted and runner.mark_completed():
                    continue
                tasks.append(asyncio.create_task(runner.run(), name=f"{self.key}/{runner.name}"))
                if runner.role == "sidecar":
                    await runner.started_event.wait()
                    continue
                await runner.finished.wait()
                if not runner.succeeded:
                    self.ctx.notify()
                    return
            tasks += [asyncio.create_task(r.run(), name=f"{self.key}/{r.name}") for r in self.mains]
            await asyncio.gather(*(r.finished.wait() for r in self.mains))
            # All main containers are done for good: sidecars go too.
            await self._stop_all(time.monotonic() + self.ctx.grace_period)
            self.done.set()
        except asyncio.CancelledError:
            raise
        finally:
            self.ctx.notify()

    async def _prepare_sandbox(self) -> None:
        ctx = self.ctx
        pod_dir = paths.pod_dir(ctx.data_dir, ctx.namespace, ctx.name)
        pod_dir.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                ctx.volumes = await prepare_volumes(ctx.data_dir, ctx.pod, ctx.resolver)
                break
            except (ContainerConfigError, OSError) as error:
                self._sandbox_error = str(error)
                ctx.event("Warning", "FailedMount", str(error), "")
                for runner in [*self.inits, *self.mains]:
                    runner.state = {"waiting": {"reason": "ContainerCreating", "message": str(error)}}
                ctx.notify()
                await asyncio.sleep(5.0)
        self._sandbox_error = None
        self._sandbox_ready = True
        ctx.notify()

    def status(self, now: float | None = None) -> dict[str, Any]:
        """The pod's status as a kubelet writes it."""
        now = time.time() if now is None else now
        init_statuses = [r.status() for r in self.inits]
        main_statuses = sorted((r.status() for r in self.mains), key=lambda s: str(s["name"]))
        unfinished = [
            r.name for r in self.inits if not (r.succeeded if r.role == "init" else r.started_event.is_set())
        ]
        init_failed = any(r.role == "init" and r.failed for r in self.inits) and not self._terminating
        phase = status.pod_phase(self.ctx.restart_policy, bool(unfinished), init_failed, main_statuses)
        if self._terminating and self.done.is_set():
            # A terminated pod is terminal: Succeeded only if every main container exited 0.
            codes = [(s["state"].get("terminated") or {}).get("exitCode", 1) for s in main_statuses]
            phase = "Succeeded" if codes and all(code == 0 for code in codes) else "Failed"
        unready = [r.name for r in self.mains if not r.ready]
        new = status.pod_conditions(phase, self._sandbox_ready, unfinished, unready)
        self._conditions = status.stamp_conditions(new, self._conditions, now)
        out: dict[str, Any] = {
            "phase": phase,
            "conditions": self._conditions,
            "hostIP": self.ctx.host_ip,
            "hostIPs": [{"ip": self.ctx.host_ip}],
            "podIP": self.ctx.pod_ip,
            "podIPs": [{"ip": self.ctx.pod_ip}],
            "startTime": self._start_time_text,
            "containerStatuses": main_statuses,
            "qosClass": status.qos_class(self.ctx.pod.get("spec") or {}),
        }
        if init_statuses:
            out["initContainerStatuses"] = init_statuses
        return out

    def pids(self) -> dict[str, int]:
        """Container name → pid of the running process."""
        return dict(self.ctx.pids)

    def write_record(self) -> None:
        """Persist uid and pids so a restarted kubelet can find leftover processes."""
        path = paths.pod_record_path(self.ctx.data_dir, self.ctx.namespace, self.ctx.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "uid": self.ctx.uid,
            "pids": {name: {"pid": pid, "start": process_start(pid)} for name, pid in self.ctx.pids.items()},
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
