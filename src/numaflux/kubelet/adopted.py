"""Processes started by an earlier kubelet run that this one takes over instead of restarting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from numaflux.kubelet import paths

UNKNOWN_EXIT = 137
"""Reported exit code of an adopted process: it is not our child, so its real code cannot be read."""


class RunningProcess(Protocol):
    """What the container runner needs of a process."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


def process_start(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (identifies it across pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    try:
        return int(fields[19])
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Leftover:
    """A container process recorded by an earlier kubelet that still runs."""

    pid: int
    start: int


def find_leftovers(data_dir: Path) -> dict[str, dict[str, Leftover]]:
    """pod uid → container name → leftover process, from the pod records in DATA_DIR."""
    found: dict[str, dict[str, Leftover]] = {}
    for record in paths.pods_dir(data_dir).glob("*/*/pod.json"):
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        for container, entry in (data.get("pids") or {}).items():
            pid, start = int(entry["pid"]), entry.get("start")
            if start is not None and process_start(pid) == start:
                found.setdefault(str(data.get("uid")), {})[str(container)] = Leftover(pid, int(start))
    return found


class AdoptedProcess:
    """A running process that is not our child: its exit is observed through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd = os.pidfd_open(pid)
        self._exited: asyncio.Future[None] | None = None

    async def wait(self) -> int:
        if self.returncode is None:
            if self._exited is None:
                loop = asyncio.get_running_loop()
                self._exited = loop.create_future()
                loop.add_reader(self._fd, self._on_exit)
            await asyncio.shield(self._exited)
        assert self.returncode is not None
        return self.returncode

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        # Signal-style code so the runner reports 128+9 = UNKNOWN_EXIT.
        self.returncode = 128 - UNKNOWN_EXIT
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)
