"""A real API server and a real kubelet agent, each as its own process, on one data dir."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from kubernetes_asyncio import client, config

from numaflux.kubelet import agent, paths
from numaflux.kubelet.adopted import find_leftovers
from numaflux.kubelet.sandbox import MountPoints

NODE = "test-node"


class LocalCluster:
    """`python -m numaflux.apiserver` plus `python -m numaflux.kubelet` on `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.apiserver: asyncio.subprocess.Process | None = None
        self.kubelet: asyncio.subprocess.Process | None = None

    async def start_apiserver(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = self.data_dir / "apiserver.json"
        state.unlink(missing_ok=True)
        self.apiserver = await self._spawn("apiserver", "numaflux.apiserver", "--dir", str(self.data_dir))
        pid = self.apiserver.pid
        await _until(lambda: state.exists() and json.loads(state.read_text()).get("pid") == pid, "API server")

    async def start_kubelet(self) -> None:
        self.kubelet = await self._spawn(
            "kubelet",
            "numaflux.kubelet",
            "--dir",
            str(self.data_dir),
            "--node-name",
            NODE,
            "--backoff-base",
            "0.5",
        )
        (self.data_dir / "run" / "kubelet.ready").unlink(missing_ok=True)
        await _until(lambda: agent.is_ready(self.data_dir), "kubelet")

    async def kill_kubelet(self) -> None:
        """SIGKILL the agent: its pods keep running, like containers after a kubelet crash."""
        assert self.kubelet is not None
        self.kubelet.kill()
        await self.kubelet.wait()
        self.kubelet = None

    async def client(self) -> client.ApiClient:
        return await config.new_client_from_config(config_file=str(self.data_dir / "kubeconfig"))

    async def stop(self) -> None:
        for proc in (self.kubelet, self.apiserver):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        # Whatever a killed agent left behind; mount points of pods that still exist in the API.
        for processes in find_leftovers(self.data_dir).values():
            for leftover in processes.values():
                os.killpg(leftover.pid, signal.SIGKILL)
        mount_points = MountPoints(paths.mount_points_path(self.data_dir))
        for uid in mount_points.users():
            mount_points.release(uid)

    async def _spawn(self, name: str, module: str, *args: str) -> asyncio.subprocess.Process:
        log = open(self.data_dir.parent / f"{name}.log", "ab")  # noqa: ASYNC230, SIM115
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, *args, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        finally:
            log.close()


async def _until(check: object, what: str, within: float = 30.0) -> None:
    assert callable(check)

    async def loop() -> None:
        while True:
            if check():
                return
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(loop(), within)
    except TimeoutError:
        raise AssertionError(f"{what} did not become ready within {within:g}s") from None
