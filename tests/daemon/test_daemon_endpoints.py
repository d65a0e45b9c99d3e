"""Watermarks, probes and /metrics of the daemon process; configuration errors name the variable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from numaflux.api import Pipeline
from numaflux.daemon.client import DaemonClient, DaemonUnavailableError
from numaflux.daemon.config import ConfigError, Discovery, encode_pipeline, load_config
from numaflux.isb import WatermarkPublisher, connect, create_buckets, delete_buckets
from numaflux.isb.config import ot_bucket_name
from numaflux.isb.server import NatsServer

from .conftest import SESSION_LOOP, make_pipeline, start_daemon, stop_daemon


@SESSION_LOOP
@pytest.mark.timeout(60)
async def test_watermarks_come_from_the_edge_buckets_and_missing_ones_are_503(
    nats_server: NatsServer, pipeline_buffers: Pipeline, tmp_path: Path
) -> None:
    pl = pipeline_buffers
    ns, name = pl.namespace, pl.name
    buckets = [f"{ns}-{name}-in-cat", f"{ns}-{name}-cat-out"]
    daemon = await start_daemon(pl, nats_server.url, tmp_path / "daemon.log")
    nc = await connect(nats_server.url, name="daemon-test-wm")
    js = nc.jetstream()
    try:
        async with DaemonClient(daemon.url) as client:
            with pytest.raises(DaemonUnavailableError, match=ot_bucket_name(buckets[0])):
                await client.get_watermarks(name)
            await create_buckets(js, buckets)
            kv = await js.key_value(ot_bucket_name(buckets[0]))
            await WatermarkPublisher(kv, "in-0").publish(0, offset=5, watermark=1_700_000_000_123)
            marks = await client.get_watermarks(name)
            assert [m["edge"] for m in marks] == ["in-cat", "cat-out"]
            assert marks[0] == {
                "pipeline": name,
                "edge": "in-cat",
                "watermarks": [1_700_000_000_123],
                "isWatermarkEnabled": True,
                "from": "in",
                "to": "cat",
            }
            assert marks[1]["watermarks"] == [-1]  # nothing published on cat-out yet
    finally:
        await delete_buckets(js, buckets)
        await nc.close()
        stop_daemon(daemon)


@SESSION_LOOP
@pytest.mark.timeout(60)
async def test_probes_answer_204_and_metrics_show_buffers_and_health(
    nats_server: NatsServer, pipeline_buffers: Pipeline, tmp_path: Path
) -> None:
    pl = pipeline_buffers
    daemon = await start_daemon(pl, nats_server.url, tmp_path / "daemon.log")
    try:
        async with DaemonClient(daemon.url) as client:
            for _ in range(100):  # wait for the first health step
                if (await client.get_status(pl.name)).code == "D1":
                    break
                await asyncio.sleep(0.1)
            assert (await client.get_status(pl.name)).code == "D1"
        async with aiohttp.ClientSession() as session:
            for probe in ("/readyz", "/livez"):
                async with session.get(daemon.url + probe) as resp:
                    assert resp.status == 204
            async with session.get(daemon.url + "/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
        assert "daemon_isb_connected 1.0" in text
        buffer = pl.all_buffers()[0]
        assert f'daemon_buffer_pending_messages{{buffer="{buffer}",pipeline="{pl.name}"}} 0.0' in text
        assert f'daemon_pipeline_data_health{{pipeline="{pl.name}"}} 0.0' in text
    finally:
        stop_daemon(daemon)


def env_for(pl: Pipeline, **extra: str) -> dict[str, str]:
    return {
        "NUMAFLOW_PIPELINE_OBJECT": encode_pipeline(pl),
        "NUMAFLOW_ISBSVC_JETSTREAM_URL": "nats://127.0.0.1:4222",
        **extra,
    }


def test_config_defaults_follow_numaflow() -> None:
    config = load_config(env_for(make_pipeline("p")))
    assert (config.host, config.port, config.namespace) == ("127.0.0.1", 4327, "ns")
    assert (config.health_step, config.scrape_interval, config.discovery_interval) == (10.0, 5.0, 30.0)
    assert config.discovery is Discovery.AUTO
    assert config.isb.tls is False and config.isb.user is None


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"NUMAFLOW_PIPELINE_OBJECT": "%%%"}, "NUMAFLOW_PIPELINE_OBJECT"),
        ({"NUMAFLOW_ISBSVC_JETSTREAM_URL": ""}, "NUMAFLOW_ISBSVC_JETSTREAM_URL"),
        ({"NUMAFLOW_ISBSVC_TYPE": "redis"}, "NUMAFLOW_ISBSVC_TYPE"),
        ({"NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED": "maybe"}, "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED"),
        ({"NUMAFLUX_DAEMON_PORT": "70000"}, "NUMAFLUX_DAEMON_PORT"),
        ({"NUMAFLUX_DAEMON_HEALTH_STEP": "-1"}, "NUMAFLUX_DAEMON_HEALTH_STEP"),
        ({"NUMAFLUX_DAEMON_POD_DISCOVERY": "dns"}, "NUMAFLUX_DAEMON_POD_DISCOVERY"),
        ({"NUMAFLUX_DAEMON_POD_DISCOVERY": "static"}, "NUMAFLUX_DAEMON_STATIC_PODS"),
        ({"NUMAFLUX_DAEMON_STATIC_PODS": "[1]"}, "NUMAFLUX_DAEMON_STATIC_PODS"),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_config(env_for(make_pipeline("p"), **env))


def test_pipeline_object_round_trips_through_the_environment() -> None:
    pl = make_pipeline("p")
    config = load_config(
        env_for(pl, NUMAFLUX_DAEMON_STATIC_PODS='{"cat": {"1": "http://127.0.0.2:2469/metrics"}}')
    )
    assert config.pipeline.all_buffers() == pl.all_buffers()
    assert config.pipeline.get_vertex_limits("cat").get_buffer_max_length() == 100
    assert config.static_pods == {"cat": {1: "http://127.0.0.2:2469/metrics"}}
