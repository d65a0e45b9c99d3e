"""Start, stop and inspect the local cluster's components as detached processes.

Each component is one process started with its own session, so `local down` can signal the whole group.
Its pid is recorded in `DIR/run/<name>.pid` together with the command line it was started with; a pid
file whose process is gone, or whose pid now belongs to another program, is stale and is replaced.
Components start in order and each must report ready before the next one starts; they stop in reverse.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from numaflux.local import paths


@dataclass(frozen=True)
class Component:
    """A long-running process of the local cluster."""

    name: str
    argv: Sequence[str]
    ready: Callable[[Path], bool]
    """Called with the data dir until it returns True (or the start times out)."""


@dataclass(frozen=True)
class ComponentState:
    """What `status` reports for one component."""

    name: str
    pid: int | None
    running: bool
    stale: bool
    log: Path


class StartError(RuntimeError):
    """A component did not become ready; the message names it and points at its log."""


def _pid_file(data_dir: Path, name: str) -> Path:
    return paths.run_dir(data_dir) / f"{name}.pid"


def _read_record(data_dir: Path, name: str) -> dict[str, object] | None:
    try:
        record = json.loads(_pid_file(data_dir, name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive_as(pid: int, argv: Sequence[str]) -> bool:
    """True if `pid` runs and still is the program we started (pids are reused)."""
    cmdline = _cmdline(pid)
    if cmdline is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return cmdline == list(argv)


def state(data_dir: Path, name: str) -> ComponentState:
    """The recorded state of a component, checked against the process table."""
    record = _read_record(data_dir, name)
    log = paths.log_dir(data_dir) / f"{name}.log"
    if record is None:
        return ComponentState(name, None, running=False, stale=False, log=log)
    pid = int(str(record.get("pid", 0)))
    argv = [str(a) for a in record.get("argv", [])]  # type: ignore[attr-defined]
    running = _alive_as(pid, argv)
    return ComponentState(name, pid, running=running, stale=not running, log=log)


def start(data_dir: Path, component: Component, *, timeout: float = 30.0) -> ComponentState:
    """Start a component unless it already runs; wait until it is ready."""
    current = state(data_dir, component.name)
    if current.running:
        return current
    paths.run_dir(data_dir).mkdir(parents=True, exist_ok=True)
    paths.log_dir(data_dir).mkdir(parents=True, exist_ok=True)
    if current.stale:
        _pid_file(data_dir, component.name).unlink(missing_ok=True)
    with open(current.log, "ab") as log:
        process = subprocess.Popen(
            list(component.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    record = {"pid": process.pid, "argv": list(component.argv)}
    _pid_file(data_dir, component.name).write_text(json.dumps(record))
    deadline = time.monotonic() + timeout
    while not component.ready(data_dir):
        if process.poll() is not None:
            raise StartError(
                f"{component.name} exited with code {process.returncode} during start; see {current.log}"
            )
        if time.monotonic() > deadline:
            raise StartError(f"{component.name} was not ready after {timeout:.0f}s; see {current.log}")
        time.sleep(0.1)
    return state(data_dir, component.name)


def stop(data_dir: Path, name: str, *, grace: float = 20.0) -> bool:
    """SIGTERM the component's process group, SIGKILL after `grace`; True if something was stopped."""
    current = state(data_dir, name)
    pid_file = _pid_file(data_dir, name)
    if not current.running or current.pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    try:
        os.killpg(current.pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _process_exists(current.pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(current.pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def _process_exists(pid: int) -> bool:
    # Our components are children of a process that already returned, so they are reaped by init;
    # a zombie still counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs a module of this package with the current interpreter."""
    return [sys.executable, "-m", module, *args]
