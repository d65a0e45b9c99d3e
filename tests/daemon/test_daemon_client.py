"""DaemonClient errors and the BufferInfo JSON both sides share."""

from __future__ import annotations

import pytest

from numaflux.daemon.buffers import buffer_info_from_json, buffer_info_json
from numaflux.daemon.client import DaemonClient, DaemonUnavailableError
from numaflux.isb.info import BufferInfo
from numaflux.isb.server import free_port

from .conftest import SESSION_LOOP


def test_buffer_info_json_has_numaflow_field_names_and_round_trips() -> None:
    info = BufferInfo("ns-pl-cat-0", 30, 10, total_messages=40, buffer_length=100, usage_limit=0.4)
    doc = buffer_info_json("pl", info)
    assert doc == {
        "pipeline": "pl",
        "bufferName": "ns-pl-cat-0",
        "pendingCount": 30,
        "ackPendingCount": 10,
        "totalMessages": 40,
        "bufferLength": 100,
        "bufferUsageLimit": 0.4,
        "bufferUsage": 0.4,
        "isFull": True,
    }
    assert buffer_info_from_json(doc) == info


def test_int64_fields_rendered_as_strings_are_accepted() -> None:
    doc = {
        "bufferName": "b",
        "pendingCount": "3",
        "ackPendingCount": "0",
        "totalMessages": "3",
        "bufferLength": "30000",
        "bufferUsageLimit": 0.8,
    }
    assert buffer_info_from_json(doc) == BufferInfo("b", 3, 0, 3, 30000, 0.8)


def test_a_missing_field_is_named() -> None:
    with pytest.raises(ValueError, match=r"BufferInfo\.ackPendingCount"):
        buffer_info_from_json({"bufferName": "b", "pendingCount": 1})


@SESSION_LOOP
@pytest.mark.timeout(30)
async def test_an_unreachable_daemon_is_unavailable_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with DaemonClient(url, timeout=2) as client:
        with pytest.raises(DaemonUnavailableError, match=f"{url}/api/v1/pipelines/pl/buffers: cannot reach"):
            await client.list_buffers("pl")
