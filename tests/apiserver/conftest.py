"""Fixtures: API server processes (module-shared and per-test) and kubernetes_asyncio clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from .harness import ServerProcess, new_client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One API server shared by the tests of a module."""
    proc = ServerProcess(tmp_path_factory.mktemp("apiserver") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own (for restart tests); stopped at the end."""
    proc = ServerProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def api_client(server: ServerProcess) -> AsyncIterator[client.ApiClient]:
    """kubernetes_asyncio client for the module's server."""
    api = await new_client(server)
    try:
        yield api
    finally:
        await api.close()
