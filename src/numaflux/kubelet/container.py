"""One container of a pod as a sequence of local processes: create, run, probe, restart, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any, BinaryIO, Literal

from numaflux.kubelet import backoff, images, probes, probing, sandbox
from numaflux.kubelet.adopted import UNKNOWN_EXIT, AdoptedProcess, RunningProcess
from numaflux.kubelet.context import PodContext
from numaflux.kubelet.env import ContainerConfigError, base_environment, container_environment, expand
from numaflux.kubelet.timefmt import rfc3339
from numaflux.kubelet.volumes import container_mounts

Role = Literal["init", "sidecar", "main"]

POD_IP_ENV = "NUMAFLUX_POD_IP"
"""Set in every container: the pod's loopback address, where local servers must bind (not 0.0.0.0)."""

CONFIG_RETRY_SECONDS = 5.0
IMAGE_RETRY_SECONDS = 20.0


class ContainerRunner:
    """Runs one container spec until it is finished for good (per its restart policy) or stopped."""

    def __init__(self, ctx: PodContext, spec: dict[str, Any], role: Role) -> None:
        self.ctx = ctx
        self.spec = spec
        self.role = role
        self.name = str(spec["name"])
        self.state: dict[str, Any] = {"waiting": {"reason": "PodInitializing"}}
        self.last_state: dict[str, Any] = {}
        self.restart_count = 0
        self.started = False
        self.readiness: probes.ProbeState = probes.initial_state("readiness")
        self.container_id: str | None = None
        self.image_id = ""
        self.pid: int | None = None
        self.finished = asyncio.Event()
        """Set when the container will not run again (completed, failed for good, or stopped)."""
        self.started_event = asyncio.Event()
        self._stopping = asyncio.Event()
        self._process: RunningProcess | None = None
        self._crash_count = 0
        self._instances = 0
        self._grace = 0.0
        self._launched = False
        self._previous: dict[str, Any] | None = None
        self._lost = False
        """The previous status says running, but that process is gone (it ended while no kubelet ran)."""
        self._adopt: int | None = None

    @property
    def restart_policy(self) -> str:
        """Effective restart policy: sidecars always restart, init containers at most on failure."""
        if self.role == "sidecar":
            return "Always"
        if self.role == "init":
            return "Never" if self.ctx.restart_policy == "Never" else "OnFailure"
        return self.ctx.restart_policy

    @property
    def ready(self) -> bool:
        if self.role == "init":
            return self.succeeded
        if "running" not in self.state or not self.started:
            return False
        return "readinessProbe" not in self.spec or self.readiness.result is True

    @property
    def succeeded(self) -> bool:
        return self.finished.is_set() and self.state.get("terminated", {}).get("exitCode") == 0

    @property
    def failed(self) -> bool:
        return self.finished.is_set() and self.state.get("terminated", {}).get("exitCode", 0) != 0

    def seed(self, previous: dict[str, Any] | None) -> None:
        """Carry restartCount and lastState over from a status written by an earlier kubelet."""
        if previous:
            self._previous = previous
            self.restart_count = int(previous.get("restartCount") or 0)
            self.last_state = dict(previous.get("lastState") or {})
            self._lost = "running" in (previous.get("state") or {})

    def adopt(self, pid: int) -> None:
        """Take over a process an earlier kubelet started for this container, instead of starting one."""
        self._adopt = pid
        self._lost = False

    def mark_completed(self) -> bool:
        """For an init container an earlier kubelet ran to completion: keep that result. True if it did."""
        state = (self._previous or {}).get("state") or {}
        if self.role != "init" or (state.get("terminated") or {}).get("exitCode") != 0:
            return False
        self.state = dict(state)
        self.container_id = (self._previous or {}).get("containerID")
        self.image_id = str((self._previous or {}).get("imageID") or "")
        self._launched = True
        self.finished.set()
        self.started_event.set()
        return True

    def status(self) -> dict[str, Any]:
        """This container's entry in containerStatuses / initContainerStatuses."""
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": self.image_id,
            "ready": self.ready,
            "started": self.started and "running" in self.state,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    async def run(self) -> None:
        """Create and restart instances until finished."""
        self._launched = True
        try:
            while not self._stopping.is_set():
                if not await self._run_instance():
                    break
        finally:
            self.finished.set()
            self.started_event.set()
            self.ctx.notify()

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group, SIGKILL after `grace` seconds; returns when the container is done."""
        self._grace = max(grace, 0.0)
        self._stopping.set()
        if not self._launched:
            self.finished.set()
        await self.finished.wait()

    # -- one instance -------------------------------------------------------------------------------

    async def _run_instance(self) -> bool:
        """Run one process; True if another instance should follow."""
        if self._adopt is not None:
            pid, self._adopt = self._adopt, None
            with contextlib.suppress(OSError):
                return await self._follow(AdoptedProcess(pid), time.time(), adopted=True)
        if self._instances == 0:
            self._set_waiting("ContainerCreating")
        try:
            argv, env, mounts, workdir = await self._prepare()
        except images.ImageNotRunnable as error:
            self._set_waiting("ImageNotRunnableLocally", str(error))
            self.ctx.event("Warning", "Failed", str(error), self._field_path())
            await self._sleep_unless_stopped(IMAGE_RETRY_SECONDS)
            return True
        except (ContainerConfigError, ValueError, OSError) as error:
            self._set_waiting("CreateContainerConfigError", str(error))
            self.ctx.event("Warning", "Failed", f"Error: {error}", self._field_path())
            await self._sleep_unless_stopped(CONFIG_RETRY_SECONDS)
            return True
        if self._stopping.is_set():
            return False
        started_wall = time.time()
        process = await self._spawn(argv, env, mounts)
        if process is None:
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
            self.container_id = None
            return await self._after_exit(128, "StartError", message, rfc3339(started_wall), time.monotonic())
        return await self._follow(process, started_wall, env=env, mounts=mounts, workdir=workdir)

    async def _follow(
        self,
        process: RunningProcess,
        started_wall: float,
        *,
        adopted: bool = False,
        env: dict[str, str] | None = None,
        mounts: list[sandbox.Mount] | None = None,
        workdir: str = "/",
    ) -> bool:
        """Watch a running instance (spawned, or adopted from an earlier kubelet) until it exits."""
        started_mono = time.monotonic()
        started_at = rfc3339(started_wall)
        if adopted:
            self._instances = max(self._instances, 1)
            previous_state = (self._previous or {}).get("state") or {}
            started_at = (previous_state.get("running") or {}).get("startedAt") or started_at
            with contextlib.suppress(ContainerConfigError, ValueError, OSError, images.ImageNotRunnable):
                _, env, mounts, workdir = await self._prepare()
        self._process = process
        self.pid = process.pid
        self.container_id = f"numaflux://{process.pid}"
        self.image_id = f"numaflux-local://{images.repository(str(self.spec.get('image', '')))}"
        self.ctx.set_pid(self.name, process.pid)
        self.state = {"running": {"startedAt": started_at}}
        self.readiness = probes.initial_state("readiness")
        self.started = adopted or "startupProbe" not in self.spec
        if self.started:
            self.started_event.set()
        if not adopted:
            self.ctx.event("Normal", "Started", f"Started container {self.name}", self._field_path())
        self.ctx.notify()
        prober = asyncio.create_task(
            self._probe_loop(process, env or {}, mounts or [], workdir, started_mono)
        )
        returncode = await self._wait_or_stop(process)
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
        _signal_group(process.pid, signal.SIGKILL)  # leftovers of the container's process group
        self._process = None
        self.ctx.set_pid(self.name, None)
        exit_code = backoff.exit_code_of(returncode)
        if isinstance(process, AdoptedProcess):
            message: str | None = "exit code unknown: the process was started by an earlier kubelet run"
            return await self._after_exit(
                exit_code, "ContainerStatusUnknown", message, started_at, started_mono
            )
        reason = backoff.terminated_reason(exit_code)
        return await self._after_exit(exit_code, reason, None, started_at, started_mono)

    async def _after_exit(
        self, exit_code: int, reason: str, message: str | None, started_at: str, started_mono: float
    ) -> bool:
        """Record the exit and wait out any backoff; True if another instance should follow."""
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started_at,
            "finishedAt": rfc3339(time.time()),
        }
        if message:
            terminated["message"] = message
        if self.container_id:
            terminated["containerID"] = self.container_id
        self.started = False
        self.readiness = probes.initial_state("readiness")
        if self._stopping.is_set() or not backoff.should_restart(self.restart_policy, exit_code):
            self.state = {"terminated": terminated}
            return False
        self.last_state = {"terminated": terminated}
        policy = self.ctx.backoff
        self._crash_count = backoff.crash_count_after_exit(
            policy, self._crash_count, started_mono, time.monotonic()
        )
        delay = backoff.restart_delay(policy, self._crash_count)
        if delay > 0:
            self._set_waiting(
                "CrashLoopBackOff",
                f"back-off {delay:g}s restarting failed container={self.name} "
                f"pod={self.ctx.name}_{self.ctx.namespace}({self.ctx.uid})",
            )
            self.ctx.event("Warning", "BackOff", "Back-off restarting failed container", self._field_path())
            await self._sleep_unless_stopped(delay)
        else:
            self.state = {"terminated": terminated}
            self.ctx.notify()
        return not self._stopping.is_set()

    async def _wait_or_stop(self, process: RunningProcess) -> int:
        """The process's return code; on a stop request, terminate it gracefully first."""
        waiter = asyncio.ensure_future(process.wait())
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not waiter.done():
            self.ctx.event("Normal", "Killing", f"Stopping container {self.name}", self._field_path())
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), self._grace)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
        return await waiter

    async def _prepare(self) -> tuple[list[str], dict[str, str], list[sandbox.Mount], str]:
        ctx = self.ctx
        declared = await container_environment(ctx.pod, self.spec, ctx.pod_ip, ctx.host_ip, ctx.resolver)
        command = [expand(str(part), declared) for part in self.spec.get("command") or []]
        args = [expand(str(part), declared) for part in self.spec.get("args") or []]
        resolution = images.resolve(self.spec, command or None, args, ctx.image_map(), ctx.data_dir)
        env = {
            **base_environment(),
            "HOSTNAME": sandbox.pod_hostname(ctx.name),
            POD_IP_ENV: ctx.pod_ip,
            **ctx.extra_env,
            **declared,
        }
        mounts = container_mounts(self.spec, ctx.volumes, ctx.private_run_dir())
        ctx.mount_points.ensure(ctx.uid, mounts)
        workdir = str(self.spec.get("workingDir") or ctx.default_working_dir)
        return resolution.argv, env, mounts, workdir

    async def _spawn(
        self, argv: list[str], env: dict[str, str], mounts: list[sandbox.Mount]
    ) -> asyncio.subprocess.Process | None:
        self._instances += 1
        if self._instances > 1:
            self.restart_count += 1
        elif self._lost and self._previous is not None:
            self._lost = False
            self.restart_count += 1
            running = (self._previous.get("state") or {}).get("running") or {}
            lost: dict[str, Any] = {
                "exitCode": UNKNOWN_EXIT,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the kubelet restarted",
                "startedAt": running.get("startedAt"),
                "finishedAt": rfc3339(time.time()),
            }
            if self._previous.get("containerID"):
                lost["containerID"] = self._previous["containerID"]
            self.last_state = {"terminated": lost}
        program = argv[0]
        if "/" not in program and shutil.which(program, path=env.get("PATH")) is None:
            return None
        log_path = self.ctx.log_path(self.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if log_path.exists() and (self._instances > 1 or self.restart_count > 0):
            os.replace(log_path, self.ctx.previous_log_path(self.name))
        workdir = str(self.spec.get("workingDir") or self.ctx.default_working_dir)
        with _open_append(log_path) as log:
            return await asyncio.create_subprocess_exec(
                *sandbox.wrap(argv, mounts, workdir, sandbox.pod_hostname(self.ctx.name)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )

    async def _probe_loop(
        self,
        process: RunningProcess,
        env: dict[str, str],
        mounts: list[sandbox.Mount],
        workdir: str,
        started: float,
    ) -> None:
        kinds: list[tuple[probes.ProbeKind, str]] = [
            ("startup", "startupProbe"),
            ("liveness", "livenessProbe"),
            ("readiness", "readinessProbe"),
        ]
        active = [(kind, probes.ProbeSettings(self.spec[key])) for kind, key in kinds if key in self.spec]
        if not active:
            return
        states = {kind: probes.initial_state(kind) for kind, _ in active}
        settings_of = dict(active)
        last_peek: float | None = None
        ever_ready = False
        while process.returncode is None:
            now = time.monotonic()
            for kind, settings in active:
                if kind != "startup" and not self.started:
                    continue
                if kind == "startup" and self.started:
                    continue
                peek = kind == "readiness" and probes.peek_due(
                    settings, states[kind], started, now, last_peek, ever_ready
                )
                if not peek and not probes.is_due(settings, states[kind], started, now):
                    continue
                spec = settings.spec
                if peek:
                    last_peek = now
                    spec = {**spec, "timeoutSeconds": 1}  # a peek must not hold up the scheduled probes
                ok, message = await probing.attempt(
                    spec,
                    self.spec,
                    self.ctx.pod_ip,
                    env,
                    mounts,
                    workdir,
                    sandbox.pod_hostname(self.ctx.name),
                )
                if peek and not ok:
                    continue
                before = states[kind].result
                states[kind] = probes.record(settings, states[kind], ok, time.monotonic())
                if not ok:
                    text = f"{kind.capitalize()} probe failed: {message}"
                    self.ctx.event("Warning", "Unhealthy", text, self._field_path())
                if kind == "readiness":
                    self.readiness = states[kind]
                    ever_ready = ever_ready or states[kind].result is True
                    if before != states[kind].result:
                        self.ctx.notify()
                elif kind == "startup" and states[kind].result is True:
                    self.started = True
                    self.started_event.set()
                    self.ctx.notify()
                elif states[kind].result is False:
                    await self._kill_unhealthy(process, kind, settings)
                    return
            pending = [
                probes.next_due(settings, states[kind], started)
                for kind, settings in active
                if (kind == "startup") != self.started
            ]
            wait = min(pending) - time.monotonic() if pending else 1.0
            readiness = settings_of.get("readiness")
            if readiness is not None and self.started and probes.peeks(readiness, ever_ready):
                wait = min(wait, probes.READINESS_PEEK_SECONDS)
            await asyncio.sleep(min(max(wait, 0.05), 1.0))

    async def _kill_unhealthy(
        self, process: RunningProcess, kind: str, settings: probes.ProbeSettings
    ) -> None:
        message = f"Container {self.name} failed {kind} probe, will be restarted"
        self.ctx.event("Normal", "Killing", message, self._field_path())
        grace = settings.termination_grace
        grace = self.ctx.grace_period if grace is None else grace
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), grace)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)

    # -- helpers ------------------------------------------------------------------------------------

    def _set_waiting(self, reason: str, message: str | None = None) -> None:
        waiting: dict[str, Any] = {"reason": reason}
        if message:
            waiting["message"] = message
        if self.state != {"waiting": waiting}:
            self.state = {"waiting": waiting}
            self.ctx.notify()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _field_path(self) -> str:
        prefix = "spec.initContainers" if self.role in ("init", "sidecar") else "spec.containers"
        return f"{prefix}{{{self.name}}}"


def _open_append(path: Path) -> BinaryIO:
    return open(path, "ab")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
