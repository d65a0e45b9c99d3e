"""Pure pieces of the vertex process, with exact expectations: tag conditions, generator payloads and
rate, retry backoff, the log sink's line, config errors naming the variable, HTTP source UUIDv7 ids."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.api import Backoff, CombinedEdge, ForwardConditions, GeneratorSource, TagConditions
from numaflux.api import HTTPSource as HTTPSpec
from numaflux.dataplane.config import (
    ENV_JETSTREAM_URL,
    ENV_REPLICA,
    ENV_VERTEX_OBJECT,
    ConfigError,
    encode_vertex,
    load_config,
)
from numaflux.dataplane.routing import DROP_TAG, drop_reason, is_keyed_edge, select_edges, should_forward
from numaflux.dataplane.sinks.delivery import backoff_delay
from numaflux.dataplane.sinks.log import log_line
from numaflux.dataplane.sources.generator import Generator, RateGate
from numaflux.dataplane.sources.http import HTTPSource, uuid7
from numaflux.dataplane.udf import UDFDatum

REPO = Path(__file__).resolve().parents[2]


def cond(operator: str | None, *values: str) -> ForwardConditions:
    return ForwardConditions(tags=TagConditions(operator=operator, values=list(values)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tags", "conditions", "expected"),
    [
        (None, None, True),
        (["a"], None, True),
        ([], cond("or"), True),  # empty values → forward
        (["a"], cond("or", "a", "b"), True),
        (["c"], cond("or", "a", "b"), False),
        (None, cond(None, "a"), False),  # default operator is or
        (["a", "b"], cond("and", "a", "b"), True),
        (["a"], cond("and", "a", "b"), False),
        (["c"], cond("not", "a", "b"), True),
        (None, cond("not", "a"), True),  # an untagged message passes `not`
        (["a"], cond("not", "a", "b"), False),
    ],
)
def test_tag_conditions_decide_forwarding_as_numaflow_does(tags, conditions, expected):
    assert should_forward(tags, conditions) is expected


def test_drop_tag_goes_nowhere_and_unmatched_messages_report_the_reason():
    edges = [CombinedEdge(to="a"), CombinedEdge(to="b", conditions=cond("or", "x"))]
    assert select_edges(None, edges) == [0]
    assert select_edges(["x"], edges) == [0, 1]
    assert select_edges([DROP_TAG], edges) == []
    assert drop_reason([DROP_TAG]) == "drop-tag"
    assert drop_reason(["y"]) == "forwarding-rules-not-met"


def test_edges_to_reduce_or_ordered_vertices_are_keyed():
    assert is_keyed_edge(CombinedEdge(to="r", to_vertex_type="ReduceUDF"))
    assert is_keyed_edge(CombinedEdge(to="o", to_vertex_type="MapUDF", to_vertex_ordered=True))
    assert not is_keyed_edge(CombinedEdge(to="m", to_vertex_type="MapUDF"))


@given(st.lists(st.text(max_size=3), max_size=4), st.lists(st.text(max_size=3), min_size=1, max_size=4))
def test_not_is_the_negation_of_or_for_every_tag_set(tags, values):
    assert should_forward(tags, cond("not", *values)) is not should_forward(tags, cond("or", *values))


def make_generator(**fields: object) -> Generator:
    wall = iter(range(1_000_000_000_000, 2_000_000_000_000, 1000))
    return Generator(
        GeneratorSource.model_validate(fields),
        vertex="in",
        replica=3,
        wall_ns=lambda: next(wall),
        rng=random.Random(7),
    )


def test_generator_payload_is_numaflow_json_with_unique_replica_ids_and_padding():
    msgs = make_generator(msgSize=12).make(3)
    docs = [json.loads(m.payload) for m in msgs]
    assert [d["id"] for d in docs] == [m.id.offset for m in msgs]
    assert len({m.id.offset for m in msgs}) == 3
    assert all(m.id.offset.endswith("-3") and m.id.vertex_name == "in" and m.id.index == 0 for m in msgs)
    assert all(d["value"] == m.event_time_ns for d, m in zip(docs, msgs, strict=True))
    assert all(len(d["padding"]) == 4 and all(0 <= b < 256 for b in d["padding"]) for d in docs)
    assert "padding" not in json.loads(make_generator().make(1)[0].payload)


def test_generator_value_keys_blob_and_jitter():
    assert json.loads(make_generator(value=42).make(1)[0].payload)["value"] == 42
    keyed = make_generator(rpu=10, keyCount=3).make(7)
    assert [m.keys for m in keyed] == [("key-0",), ("key-1",), ("key-2",)] * 2 + [("key-0",)]
    blob = make_generator(valueBlob=base64.b64encode(b"\x00raw").decode()).make(2)
    assert [m.payload for m in blob] == [b"\x00raw", b"\x00raw"]
    jittered = make_generator(jitter="5s").make(200)
    lags = {(int(m.id.offset.split("-")[0]) - m.event_time_ns) // 1_000_000_000 for m in jittered}
    assert lags <= set(range(5)) and len(lags) > 1
    with pytest.raises(ValueError, match="valueBlob"):
        make_generator(valueBlob="%%%")


def test_generator_rate_gives_rpu_per_tick_and_skips_missed_ticks():
    gate = RateGate(rpu=10, duration=1.0)
    assert gate.take(4, now=0.0) == 4
    assert gate.take(100, now=0.5) == 6
    assert gate.take(100, now=0.9) == 0
    assert gate.wait_time(0.9) == pytest.approx(0.1)
    assert gate.take(100, now=1.0) == 10
    assert gate.take(100, now=5.5) == 10  # ticks 2..4 were missed, not accumulated
    assert gate.take(100, now=5.9) == 0
    assert gate.next_tick == 6.0


def test_generator_rpu_is_floored_to_a_multiple_of_the_key_count():
    from numaflux.dataplane.sources.generator import effective_key_count, effective_rpu

    assert effective_rpu(GeneratorSource(rpu=10, key_count=3)) == 9
    assert effective_key_count(GeneratorSource(rpu=2, key_count=5)) == 2
    assert effective_key_count(GeneratorSource(rpu=1000, key_count=400)) == 255


def test_backoff_grows_by_factor_up_to_the_cap_with_bounded_jitter():
    b = Backoff(interval="10ms", factor=2.0, cap="50ms")
    assert [backoff_delay(b, n, 0.0) for n in (1, 2, 3, 4)] == pytest.approx([0.01, 0.02, 0.04, 0.05])
    j = Backoff(interval="100ms", jitter=0.5)
    assert backoff_delay(j, 1, 0.0) == pytest.approx(0.1)
    assert backoff_delay(j, 1, 0.999) == pytest.approx(0.1 + 0.1 * 0.5 * 0.999)


def test_log_sink_line_matches_numaflow_format():
    d = UDFDatum("out-5-0-0", b"hello", ["a", "b"], 1700000000123, None, {"x": "1", "y": "2"})
    assert (
        log_line(d)
        == "Payload - hello Keys - a,b EventTime - 1700000000123 Headers - {x: 1, y: 2} ID - out-5-0-0"
    )


def test_uuid7_has_version_7_and_the_time_prefix():
    u = uuid.UUID(uuid7(now_ms=0x0123456789AB))
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert u.int >> 80 == 0x0123456789AB


def vertex_env(**overrides: str) -> dict[str, str]:
    from numaflux.api import Vertex

    v = Vertex.model_validate(
        {
            "apiVersion": "numaflow.numaproj.io/v1alpha1",
            "kind": "Vertex",
            "metadata": {"name": "p-out", "namespace": "ns"},
            "spec": {"name": "out", "pipelineName": "p", "sink": {"log": {}}},
        }
    )
    return {ENV_VERTEX_OBJECT: encode_vertex(v), ENV_JETSTREAM_URL: "nats://127.0.0.1:4222", **overrides}


def test_config_reads_the_pod_env_with_defaults_from_the_vertex():
    cfg = load_config(vertex_env(NUMAFLOW_REPLICA="2"))
    assert (cfg.vertex_name, cfg.pipeline, cfg.namespace, cfg.replica) == ("out", "p", "ns", 2)
    assert cfg.processor_name == "out-2"
    assert str(cfg.udf_dir) == "/var/run/numaflow"
    assert cfg.metrics_port == 2469


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({ENV_VERTEX_OBJECT: ""}, ENV_VERTEX_OBJECT),
        ({ENV_VERTEX_OBJECT: "not base64!"}, ENV_VERTEX_OBJECT),
        ({ENV_VERTEX_OBJECT: base64.b64encode(b'{"spec": 5}').decode()}, ENV_VERTEX_OBJECT),
        ({ENV_JETSTREAM_URL: ""}, ENV_JETSTREAM_URL),
        ({ENV_REPLICA: "one"}, ENV_REPLICA),
        ({"NUMAFLOW_ISBSVC_TYPE": "redis"}, "NUMAFLOW_ISBSVC_TYPE"),
    ],
)
def test_config_errors_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        load_config(vertex_env(**env))


@pytest.mark.parametrize("command", [["numaflux", "vertex"], ["numaflux.dataplane"]])
def test_the_vertex_command_exits_2_naming_a_missing_variable(command):
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", *command],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert ENV_VERTEX_OBJECT in proc.stderr


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"sink": {"kafka": {"brokers": ["b:9092"], "topic": "t"}}}, "sink: sink kind kafka"),
        ({"sink": {"log": {}, "fallback": {"pulsar": {}}}}, "sink.fallback"),
        ({"source": {"kafka": {"topic": "t"}}}, "source: kind kafka"),
        ({"source": {"generator": {"valueBlob": "%%"}}}, "source.generator.valueBlob"),
        (
            {"udf": {"container": {"image": "r"}, "groupBy": {"window": {"fixed": {"length": "1s"}}}}},
            "udf.groupBy",
        ),
    ],
)
def test_an_unsupported_spec_exits_2_naming_the_field_before_connecting(spec, field):
    from numaflux.api import Vertex

    v = Vertex.model_validate(
        {
            "apiVersion": "numaflow.numaproj.io/v1alpha1",
            "kind": "Vertex",
            "metadata": {"name": "p-v", "namespace": "ns"},
            "spec": {"name": "v", "pipelineName": "p", **spec},
        }
    )
    env = {
        "PATH": "/usr/bin:/bin",
        ENV_VERTEX_OBJECT: encode_vertex(v),
        ENV_JETSTREAM_URL: "nats://127.0.0.1:1",  # never dialled
        "NUMAFLUX_METRICS_PORT": "1",  # never bound either
    }
    proc = subprocess.run(
        [sys.executable, "-m", "numaflux.dataplane"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert field in proc.stderr


_MS = st.integers(min_value=-(2**40), max_value=2**42)


@given(
    st.lists(
        st.builds(
            UDFDatum,
            id=st.text(min_size=1, max_size=8),
            value=st.binary(max_size=16),
            keys=st.lists(st.text(max_size=4), max_size=3),
            event_time_ms=_MS,
            watermark_ms=st.none() | _MS,
            headers=st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
        ),
        max_size=6,
    )
)
def test_map_requests_equal_the_messages_built_from_constructor_arguments(datums: list[UDFDatum]) -> None:
    from pynumaflow.proto.mapper import map_pb2

    from numaflux.dataplane.udf._convert import to_timestamp
    from numaflux.dataplane.udf.mapper import map_requests

    def reference(d: UDFDatum) -> map_pb2.MapRequest:
        body = map_pb2.MapRequest.Request(
            keys=d.keys,
            value=d.value,
            event_time=to_timestamp(d.event_time_ms),
            watermark=None if d.watermark_ms is None else to_timestamp(d.watermark_ms),
            headers=d.headers or None,
        )
        return map_pb2.MapRequest(id=d.id, request=body)

    built = map_requests(datums)
    assert built == [reference(d) for d in datums]
    assert [b.SerializeToString(deterministic=True) for b in built] == [
        reference(d).SerializeToString(deterministic=True) for d in datums
    ]


async def test_stop_wakes_a_generator_read_waiting_for_its_next_tick() -> None:
    gen = make_generator(rpu=1, duration="60s")
    assert len(await gen.read(10, wait=60)) == 1  # this tick's only message
    waiting = asyncio.create_task(gen.read(10, wait=60))
    await asyncio.sleep(0.05)
    gen.stop()
    assert await asyncio.wait_for(waiting, 10) == []  # not after the 60 s wait


async def test_stop_wakes_an_http_source_read_waiting_for_a_request() -> None:
    source = HTTPSource(HTTPSpec(), vertex="in", host="127.0.0.1", token=None)
    waiting = asyncio.create_task(source.read(10, wait=60))
    await asyncio.sleep(0.05)
    source.stop()
    assert await asyncio.wait_for(waiting, 10) == []  # not after the 60 s wait
