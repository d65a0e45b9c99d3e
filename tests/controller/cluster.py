"""Real processes for the controller's integration tests: API server, kubelet, controller managers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from numaflux.kubelet import agent, paths
from numaflux.kubelet.adopted import find_leftovers
from numaflux.kubelet.sandbox import MountPoints

LEASE = ["--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5"]


def wait_for(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {within:g}s")


class Process:
    """A `python -m ...` child with its output in a log file."""

    def __init__(self, log: Path, *argv: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        self.argv = list(argv)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.argv], stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Cluster:
    """API server + kubelet on `data_dir`; controllers are started per test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.apiserver: Process | None = None
        self.kubelet: Process | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def ready_file(self) -> Path:
        return self.data_dir / "run" / "controller.ready"

    def start(self) -> Cluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_apiserver()
        self.kubelet = Process(
            self.data_dir.parent / "kubelet.log",
            "numaflux.kubelet",
            "--dir",
            str(self.data_dir),
            "--node-name",
            "test-node",
            "--backoff-base",
            "0.5",
            # Fault tests crash the same container many times in a minute (nats-server of an ISB pod);
            # one that then served for 3 s counts as recovered, so the back-off does not pile up.
            "--backoff-reset",
            "3",
        ).start()
        wait_for(lambda: agent.is_ready(self.data_dir), "kubelet ready")
        return self

    def start_apiserver(self, *extra: str) -> None:
        state = self.data_dir / "apiserver.json"
        state.unlink(missing_ok=True)
        self.apiserver = Process(
            self.data_dir.parent / "apiserver.log", "numaflux.apiserver", "--dir", str(self.data_dir), *extra
        ).start()
        pid = self.apiserver.pid
        wait_for(lambda: state.exists() and json.loads(state.read_text()).get("pid") == pid, "API server")

    def controller(self, *extra: str) -> Process:
        """Start a controller manager (not waiting for it to lead)."""
        log = self.data_dir.parent / f"controller-{time.monotonic_ns()}.log"
        # The autoscaler would move replicas the lifecycle tests expect to stay put; the autoscaling tests
        # turn it on by setting NUMAFLUX_SCALE_INTERVAL themselves.
        env = {"NUMAFLUX_SCALE_INTERVAL": "0", **os.environ}
        return Process(
            log, "numaflux", "controller", "--local-data-dir", str(self.data_dir), *LEASE, *extra, env=env
        ).start()

    def stop(self) -> None:
        for proc in (self.kubelet, self.apiserver):
            if proc is not None:
                proc.terminate()
        for processes in find_leftovers(self.data_dir).values():
            for leftover in processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(leftover.pid, signal.SIGKILL)
        mount_points = MountPoints(paths.mount_points_path(self.data_dir))
        for uid in mount_points.users():
            mount_points.release(uid)


@contextlib.contextmanager
def leading_manager(cluster: Cluster) -> Iterator[Process]:
    """A leading controller manager; stopped with SIGTERM, which must exit 0 and remove the ready file."""
    cluster.ready_file.unlink(missing_ok=True)
    proc = cluster.controller()
    try:
        wait_for(cluster.ready_file.exists, "controller ready")
        yield proc
    finally:
        if proc.running():
            assert proc.terminate() == 0, proc.output()[-3000:]
            assert not cluster.ready_file.exists()
