"""Fixtures for the data-plane tests: real pynumaflow servers run as subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

UDF_PROGRAMS = Path(__file__).resolve().parent / "udf_programs"
SERVE = UDF_PROGRAMS / "serve.py"


class UDFProcess:
    """A pynumaflow server started from udf_programs/serve.py, serving inside ``directory``."""

    def __init__(self, program: str, directory: Path, *extra: str) -> None:
        self.program = program
        self.directory = directory
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / f"{program}.log"

    def start(self) -> UDFProcess:
        env = dict(os.environ)
        env.pop("NUMAFLOW_UD_CONTAINER_TYPE", None)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(SERVE), self.program, str(self.directory), *self.extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self

    def kill(self) -> None:
        """SIGKILL, as a crashed container."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def udf_dir() -> Iterator[Path]:
    """A short directory for sockets: unix socket paths are limited to 107 bytes, tmp_path can exceed it."""
    path = Path(tempfile.mkdtemp(prefix="nfx-udf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


StartUDF = Callable[..., UDFProcess]


@pytest.fixture
def udf_server(udf_dir: Path) -> Iterator[StartUDF]:
    """``udf_server(program, *args)`` starts a UDFProcess in ``udf_dir``; all are stopped afterwards."""
    started: list[UDFProcess] = []

    def start(program: str, *extra: str) -> UDFProcess:
        proc = UDFProcess(program, udf_dir, *extra).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
