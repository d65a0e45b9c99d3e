"""Watch streams write the events queued for a watcher together in one chunk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from numaflux.apiserver.app import build_app
from numaflux.apiserver.core import Api
from numaflux.apiserver.resources import Registry
from numaflux.apiserver.store import Store

pytestmark = pytest.mark.timeout(30)


async def next_chunk(stream: aiohttp.StreamReader) -> list[tuple[str, str]]:
    """(type, name) of each event in the next HTTP chunk."""
    data = b""
    while True:
        part, end = await asyncio.wait_for(stream.readchunk(), 5)
        data += part
        if end:
            break
    return [(e["type"], e["object"]["metadata"]["name"]) for e in map(json.loads, data.splitlines())]


async def test_events_written_together_arrive_in_one_chunk_and_initial_objects_too(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    api = Api(store, Registry())
    api.bootstrap()
    cms = api.registry.lookup("", "v1", "configmaps")
    assert cms is not None
    for name in ("old-1", "old-2"):
        api.create(cms, "default", {"metadata": {"name": name}})
    server = TestServer(build_app(api, "t", tmp_path))
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session:
            url = server.make_url("/api/v1/namespaces/default/configmaps")
            async with session.get(url, params={"watch": "true", "timeoutSeconds": "10"}) as resp:
                assert resp.status == 200
                assert await next_chunk(resp.content) == [("ADDED", "old-1"), ("ADDED", "old-2")]
                api.create(cms, "default", {"metadata": {"name": "first"}})
                assert await next_chunk(resp.content) == [("ADDED", "first")]
                for name in ("a", "b", "c"):  # three writes before the watcher runs again
                    api.create(cms, "default", {"metadata": {"name": name}})
                api.update(cms, "default", "a", {"metadata": {"name": "a"}, "data": {"k": "v"}})
                assert await next_chunk(resp.content) == [
                    ("ADDED", "a"),
                    ("ADDED", "b"),
                    ("ADDED", "c"),
                    ("MODIFIED", "a"),
                ]
    finally:
        await server.close()
        store.close()
