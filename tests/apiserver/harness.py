"""Helpers: a real API server process on a temp dir, kubectl against its kubeconfig, and
kubernetes_asyncio clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubernetes_asyncio import client, config

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERTEX_CRD = FIXTURES / "vertex-crd.yaml"
"""Swap for the output of `numaflux crds` once it exists; tests only rely on kind Vertex (shortName vtx),
spec.replicas with a scale subresource and printer columns Phase/Desired/Current."""


class ServerProcess:
    """`python -m numaflux.apiserver --dir DIR` as a child process."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        state = self.data_dir / "apiserver.json"
        state.unlink(missing_ok=True)
        log = (self.data_dir.parent / f"{self.data_dir.name}-apiserver.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "numaflux.apiserver", "--dir", str(self.data_dir), *self.extra],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API server exited with {self.process.returncode}")
            if state.exists():
                info = json.loads(state.read_text())
                if info.get("pid") == self.process.pid:
                    self.port = int(info["port"])
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"API server did not start within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def kubectl(
    server: ServerProcess, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30
) -> str:
    """Run the real kubectl against the server; returns stdout."""
    cache = server.data_dir.parent / f"{server.data_dir.name}-kcache"
    cmd = [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(cache), *args]
    result = subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HOME": str(cache)},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout if check else result.stdout + result.stderr


def kubectl_popen(server: ServerProcess, *args: str) -> subprocess.Popen[str]:
    """Start a long-running kubectl (get -w, logs -f)."""
    cache = server.data_dir.parent / f"{server.data_dir.name}-kcache"
    cmd = [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(cache), *args]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HOME": str(cache)},
    )


async def new_client(server: ServerProcess) -> client.ApiClient:
    """A kubernetes_asyncio ApiClient from the server's kubeconfig."""
    return await config.new_client_from_config(config_file=str(server.kubeconfig))
