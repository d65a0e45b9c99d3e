"""Server-info parsing and waiting (pure logic and real files)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.dataplane.udf import MapMode, UDFConnectionError, UDFPaths, UDFProtocolError
from numaflux.dataplane.udf.serverinfo import END_MARKER, parse_server_info, wait_for_server_info

PYNUMAFLOW_MAP_INFO = (
    '{"protocol": "uds", "language": "python", "minimum_numaflow_version": "1.4.0-z", '
    '"version": "0.14.0", "metadata": {"MAP_MODE": "unary-map"}}U+005C__END__'
)


def test_terminator_is_the_literal_text_pynumaflow_writes():
    from pynumaflow.info.types import EOF

    assert END_MARKER == EOF == "U+005C__END__"


def test_pynumaflow_map_server_info_parses_to_unary_mode():
    info = parse_server_info(PYNUMAFLOW_MAP_INFO)
    assert info is not None
    assert (info.protocol, info.language, info.version) == ("uds", "python", "0.14.0")
    assert info.map_mode is MapMode.UNARY


def test_content_without_terminator_is_not_ready_yet():
    assert parse_server_info(PYNUMAFLOW_MAP_INFO[: -len(END_MARKER)]) is None
    assert parse_server_info(PYNUMAFLOW_MAP_INFO[:20]) is None


@pytest.mark.parametrize(
    ("metadata", "mode"),
    [
        ({"MAP_MODE": "unary-map"}, MapMode.UNARY),
        ({"MAP_MODE": "batch-map"}, MapMode.BATCH),
        ({"MAP_MODE": "stream-map"}, MapMode.STREAM),
        ({"MAP_MODE": "something-new"}, MapMode.UNARY),
        ({}, MapMode.UNARY),
    ],
)
def test_map_mode_selects_the_socket(metadata, mode, tmp_path):
    info = parse_server_info(json.dumps({"metadata": metadata}) + END_MARKER)
    assert info is not None and info.map_mode is mode
    expected = {MapMode.UNARY: "map.sock", MapMode.BATCH: "batchmap.sock", MapMode.STREAM: "mapstream.sock"}
    assert UDFPaths(tmp_path).map_socket(info.map_mode) == tmp_path / expected[mode]


def test_missing_fields_default_and_null_metadata_is_empty():
    info = parse_server_info('{"metadata": null, "protocol": "carrier-pigeon"}' + END_MARKER)
    assert info is not None
    assert (info.protocol, info.language, info.metadata) == ("uds", "", {})


def test_garbage_before_the_terminator_is_a_protocol_error():
    with pytest.raises(UDFProtocolError, match="not JSON"):
        parse_server_info("{not json" + END_MARKER)
    with pytest.raises(UDFProtocolError, match="expected an object"):
        parse_server_info("[1, 2]" + END_MARKER)


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=5))
def test_any_string_metadata_round_trips(metadata):
    info = parse_server_info(json.dumps({"metadata": metadata}, ensure_ascii=False) + END_MARKER)
    assert info is not None and info.metadata == metadata


@pytest.mark.timeout(20)
async def test_wait_retries_until_the_terminator_is_written(tmp_path: Path):
    path = tmp_path / "mapper-server-info"
    path.write_text(PYNUMAFLOW_MAP_INFO[: -len(END_MARKER)])

    async def finish_later() -> None:
        await asyncio.sleep(0.15)
        path.write_text(PYNUMAFLOW_MAP_INFO)

    writer = asyncio.create_task(finish_later())
    info = await wait_for_server_info(path, max_wait=5, poll_interval=0.01, read_retry_interval=0.05)
    await writer
    assert info.map_mode is MapMode.UNARY


@pytest.mark.timeout(20)
async def test_wait_gives_up_when_the_terminator_never_comes(tmp_path: Path):
    path = tmp_path / "mapper-server-info"
    path.write_text('{"protocol": "uds"}')
    with pytest.raises(UDFProtocolError, match="terminator"):
        await wait_for_server_info(path, max_wait=5, read_retries=3, read_retry_interval=0.01)


@pytest.mark.timeout(20)
async def test_wait_for_a_missing_file_times_out_on_the_given_clock(tmp_path: Path):
    ticks = iter(range(100))
    with pytest.raises(UDFConnectionError, match="not ready"):
        await wait_for_server_info(
            tmp_path / "absent", max_wait=3, poll_interval=0, clock=lambda: float(next(ticks))
        )


@pytest.mark.timeout(20)
async def test_an_empty_file_is_waited_for_like_a_missing_one(tmp_path: Path):
    path = tmp_path / "sinker-server-info"
    path.write_text("")

    async def write_later() -> None:
        await asyncio.sleep(0.1)
        path.write_text('{"metadata": {}}' + END_MARKER)

    writer = asyncio.create_task(write_later())
    info = await wait_for_server_info(path, max_wait=5, poll_interval=0.01)
    await writer
    assert info.metadata == {}
