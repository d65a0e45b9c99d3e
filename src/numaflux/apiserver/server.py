"""Entry point of the local API server: `serve(data_dir)` starts it in the running event loop;
`python -m numaflux.apiserver --dir DIR` runs it as a process; `ready(DIR)` tells whether one is up.

On start it creates (once) the CA, server certificate and token under `data_dir`, opens the SQLite
store `data_dir/apiserver.db`, listens with TLS on 127.0.0.1, writes `data_dir/kubeconfig` (0600) and
`data_dir/apiserver.json` ({"pid", "host", "port", "url", "kubeconfig"}; removed on a clean stop).
With `port=None` the port of the previous run (from apiserver.json's sibling `apiserver.port`) is reused
when free, so clients holding the old kubeconfig keep working across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from numaflux.apiserver.app import build_app
from numaflux.apiserver.core import Api, Clock, utcnow
from numaflux.apiserver.gc import GarbageCollector
from numaflux.apiserver.resources import Registry
from numaflux.apiserver.store import Store
from numaflux.apiserver.tls import Credentials, ensure_credentials, server_ssl_context, write_kubeconfig

log = logging.getLogger(__name__)

DB_NAME = "apiserver.db"
STATE_NAME = "apiserver.json"
PORT_NAME = "apiserver.port"
LOCK_NAME = "apiserver.lock"


def kubeconfig_path(data_dir: Path) -> Path:
    """Where the server writes the kubeconfig."""
    return Path(data_dir) / "kubeconfig"


def state_path(data_dir: Path) -> Path:
    """Where a running server announces its pid and address."""
    return Path(data_dir) / STATE_NAME


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The announcement of the server running for data_dir ({"pid", "host", "port", "url",
    "kubeconfig"}), or None when there is none."""
    try:
        state = json.loads(state_path(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def ready(data_dir: Path) -> bool:
    """Whether a server for data_dir is up: its process lives and its port accepts connections."""
    state = read_state(data_dir)
    if state is None:
        return False
    try:
        os.kill(int(state["pid"]), 0)
    except (ProcessLookupError, PermissionError, KeyError, ValueError):
        return False
    try:
        with socket.create_connection((str(state["host"]), int(state["port"])), timeout=1.0):
            return True
    except OSError:
        return False


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"host {host!r}: the local API server binds loopback addresses only")


@dataclass
class RunningServer:
    """A started API server."""

    data_dir: Path
    host: str
    port: int
    api: Api
    _runner: web.AppRunner
    _gc: GarbageCollector
    _store: Store
    _lock_fd: int
    _stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        """https://host:port"""
        return f"https://{self.host}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig clients should use."""
        return kubeconfig_path(self.data_dir)

    async def stop(self) -> None:
        """Close all connections (ending watches), stop GC and close the database."""
        if self._stopped:
            return
        self._stopped = True
        await self._gc.stop()
        await self._runner.cleanup()
        self._store.close()
        os.close(self._lock_fd)
        with contextlib.suppress(FileNotFoundError):
            state = state_path(self.data_dir)
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()


def _lock(directory: Path) -> int:
    """Hold DIR/apiserver.lock for the life of the process: one server per data directory."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        os.close(fd)
        raise RuntimeError(f"another API server already serves {directory}") from err
    return fd


def _open(data_dir: Path | str, clock: Clock, window: int) -> tuple[Path, int, Credentials, Store, Api]:
    directory = Path(data_dir).expanduser().absolute()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    lock = _lock(directory)
    creds = ensure_credentials(directory)
    store = Store(directory / DB_NAME, window=window)
    api = Api(store, Registry(), clock)
    api.bootstrap()
    return directory, lock, creds, store, api


async def serve(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int | None = 0,
    *,
    clock: Clock = utcnow,
    watch_window: int = 20000,
    bookmark_interval: float = 10.0,
    gc_interval: float = 1.0,
) -> RunningServer:
    """Start the API server for `data_dir` in the running loop; returns once it listens."""
    _check_loopback(host)
    directory, lock, creds, store, api = _open(data_dir, clock, watch_window)
    app = build_app(api, creds.token, directory, bookmark_interval)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    wanted = port
    if wanted is None:
        remembered = directory / PORT_NAME
        wanted = int(remembered.read_text()) if remembered.exists() else 0
    site = web.TCPSite(runner, host, wanted, ssl_context=server_ssl_context(creds))
    try:
        await site.start()
    except OSError as err:
        if port is not None or err.errno != errno.EADDRINUSE:
            await runner.cleanup()
            store.close()
            os.close(lock)
            raise
        site = web.TCPSite(runner, host, 0, ssl_context=server_ssl_context(creds))
        await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    bound = server.sockets[0].getsockname()[1]
    (directory / PORT_NAME).write_text(str(bound))
    write_kubeconfig(kubeconfig_path(directory), creds, host, bound)
    collector = GarbageCollector(api, gc_interval)
    collector.start()
    state = {
        "pid": os.getpid(),
        "host": host,
        "port": bound,
        "url": f"https://{host}:{bound}",
        "kubeconfig": str(kubeconfig_path(directory)),
    }
    tmp = state_path(directory).with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_path(directory))
    log.info("API server listening on https://%s:%d (data in %s)", host, bound, directory)
    return RunningServer(directory, host, bound, api, runner, collector, store, lock)
