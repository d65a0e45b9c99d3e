"""Bundled example UDFs behave like the upstream examples, and their images are mapped."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numaflux.dataplane.udf import MapClient, UDFDatum, UDFPaths
from numaflux.udfs.image_map import BUNDLED_IMAGES

pytestmark = pytest.mark.timeout(60)

# Images in the upstream examples that are not example UDFs of this issue (a user's own image, and the
# reduce / accumulator programs that come with the reduce work).
NOT_BUNDLED = {"my-sink:latest"}
LATER = {"reduce-sum", "stream-sorter"}


async def mapped(udf_server, udf_dir: Path, program: str, values: dict[str, bytes]):
    udf_server(program)
    client = MapClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        return await client.map_batch([UDFDatum(id=k, value=v, keys=["in"]) for k, v in values.items()])
    finally:
        await client.close()


async def test_filter_id_passes_ids_below_100_without_keys_and_drops_the_rest(udf_server, udf_dir):
    out = await mapped(
        udf_server,
        udf_dir,
        "map_filter_id",
        {"lo": b'{"id": 80, "msg": "hello"}', "hi": b'{"id": 180, "msg": "hello"}', "bad": b"plain text"},
    )
    low = out["lo"][0]
    assert (low.value, low.keys, low.is_drop) == (b'{"id": 80, "msg": "hello"}', [], False)
    assert out["hi"][0].is_drop and out["bad"][0].is_drop


async def test_forward_message_keeps_value_and_keys(udf_server, udf_dir):
    out = await mapped(udf_server, udf_dir, "map_forward_message", {"a": b"hello"})
    assert (out["a"][0].value, out["a"][0].keys, out["a"][0].tags) == (b"hello", ["in"], [])


async def test_retry_tags_a_payload_twice_then_lets_it_through(udf_server, udf_dir):
    udf_server("map_retry")
    client = MapClient(UDFPaths(udf_dir), connect_timeout=30)
    await asyncio.wait_for(client.connect(), 40)
    try:
        tags = []
        for attempt in range(4):
            out = await client.map_batch([UDFDatum(id=f"a{attempt}", value=b"msg")])
            tags.append(out[f"a{attempt}"][0].tags)
        assert tags == [["retry"], ["retry"], [], ["retry"]]
    finally:
        await client.close()


def test_every_upstream_example_image_is_bundled(shared_examples_dir: Path):
    images = set()
    for path in shared_examples_dir.glob("*.yaml"):
        images.update(re.findall(r"image:\s*(\S+)", path.read_text()))
    expected = {i for i in images if i not in NOT_BUNDLED and i.rsplit("/", 1)[-1].split(":")[0] not in LATER}
    assert expected, "no images found in the upstream examples"
    assert expected <= set(BUNDLED_IMAGES)


def test_issue_images_map_to_runnable_modules():
    for short in (
        "map-cat",
        "map-even-odd",
        "map-filter-id",
        "map-forward-message",
        "map-flatmap-stream",
        "map-retry",
        "fb-sink-log",
        "sink-log",
        "simple-source",
        "source-transformer-now",
    ):
        for registry in ("quay.io/numaio/numaflow-go", "quay.io/numaio/numaflow-rs"):
            command = BUNDLED_IMAGES[f"{registry}/{short}:stable"]
            assert command[:2] == [sys.executable, "-m"]
    modules = {c[2] for c in BUNDLED_IMAGES.values()}
    check = "import importlib,sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    subprocess.run([sys.executable, "-c", check, *sorted(modules)], check=True, timeout=60)
