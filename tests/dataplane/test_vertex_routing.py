"""Conditional forwarding and partitions through real vertex processes: even/odd tags to three sinks
(`or`, `not`), DROP, a message matching no edge (acked, counted as dropped), a 3-partition edge spread by
id and a keyed (ordered) 3-partition edge keeping per-key order."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import aiohttp
import pytest
from pipeline_harness import (
    Topology,
    VertexProc,
    generator,
    nats_server,
    produced_ids,
    report,
    stream_count,
    wait_for,
)

from numaflux.isb.server import free_port

__all__ = ["nats_server"]

UDF = {"udf": {"container": {"image": "map"}}}
LOG = {"sink": {"log": {}}}


def tags(operator: str, *values: str) -> dict[str, object]:
    return {"conditions": {"tags": {"operator": operator, "values": list(values)}}}


async def post_all(url: str, bodies: list[tuple[str, bytes]], concurrency: int = 32) -> Counter[int]:
    statuses: Counter[int] = Counter()
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(msg_id: str, body: bytes) -> None:
            async with sem, session.post(url, data=body, headers={"X-Numaflow-Id": msg_id}) as resp:
                statuses[resp.status] += 1

        await asyncio.gather(*(one(i, b) for i, b in bodies))
    return statuses


@pytest.mark.timeout(150)
async def test_even_odd_tags_route_to_three_sinks_and_drop_tagged_messages_are_acked(nats_server, tmp_path):
    http_port = free_port()
    topo = Topology(
        vertices=[
            {"name": "in", "source": {"http": {"ports": {"https": free_port(), "http": http_port}}}},
            {"name": "even-or-odd", **UDF},
            {"name": "even", **LOG},
            {"name": "odd", **LOG},
            {"name": "number", **LOG},
        ],
        edges=[
            {"from": "in", "to": "even-or-odd"},
            {"from": "even-or-odd", "to": "even", **tags("or", "even-tag")},
            {"from": "even-or-odd", "to": "odd", **tags("not", "even-tag")},
            {"from": "even-or-odd", "to": "number", **tags("or", "even-tag", "odd-tag")},
        ],
    )
    await topo.create(nats_server.url)
    names = ["even", "odd", "number", "even-or-odd", "in"]
    procs = {n: VertexProc(topo, n, nats_server.url, tmp_path) for n in names}
    try:
        procs["even-or-odd"].udf("map_even_odd")
        for p in procs.values():
            p.start()
        for p in procs.values():
            await p.wait_ready()
        n, junk = 600, 20
        bodies = [(f"n-{i}", str(i).encode()) for i in range(n)] + [
            (f"j-{i}", b"not-a-number") for i in range(junk)
        ]
        statuses = await post_all(f"http://127.0.0.1:{http_port}/vertices/in", bodies)
        assert statuses == Counter({200: n + junk})

        def payloads(name: str) -> Counter[str]:
            return Counter(line[0] for line in procs[name].log_lines())

        evens = {str(i) for i in range(0, n, 2)}
        odds = {str(i) for i in range(1, n, 2)}
        # each sink writes on its own schedule: wait for every one, not only the busiest
        for sink, expected in (("number", n), ("even", len(evens)), ("odd", len(odds))):
            await wait_for(
                lambda sink=sink, expected=expected: sum(payloads(sink).values()) >= expected,
                60,
                f"{expected} messages at the {sink} sink",
            )
        await wait_for(
            lambda: procs["even-or-odd"].metric("forwarder_ack_total") >= n + junk, 30, "all acked"
        )
        got = {name: payloads(name) for name in ("even", "odd", "number")}
        dups = {name: sum(c - 1 for c in got[name].values()) for name in got}
        report("even-odd", **{k: sum(v.values()) for k, v in got.items()}, duplicates=dups)
        assert set(got["even"]) == evens
        assert set(got["odd"]) == odds
        assert set(got["number"]) == evens | odds
        dropped = procs["even-or-odd"].metric("forwarder_drop_total", reason="drop-tag")
        assert dropped == junk
        assert all(v == 0 for v in dups.values())
    finally:
        for p in procs.values():
            p.stop()


@pytest.mark.timeout(120)
async def test_a_message_matching_no_edge_is_acked_and_counted_as_dropped(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(100, "100ms")},
            {"name": "cat", **UDF},
            {"name": "nowhere", **LOG},
            {"name": "everything", **LOG},
        ],
        edges=[
            # source messages carry no tags: `not` lets them through, `or` does not
            {"from": "in", "to": "cat", **tags("not", "never")},
            {"from": "in", "to": "everything", **tags("or", "never")},
            {"from": "cat", "to": "nowhere", **tags("and", "a", "b")},
        ],
    )
    await topo.create(nats_server.url)
    procs = {
        n: VertexProc(topo, n, nats_server.url, tmp_path) for n in ("nowhere", "everything", "cat", "in")
    }
    try:
        procs["cat"].udf("map_cat")
        for p in procs.values():
            p.start()
        for p in procs.values():
            await p.wait_ready()
        src, cat = procs["in"], procs["cat"]
        await wait_for(lambda: src.metric("forwarder_write_total") >= 500, 60, "generated messages")
        assert src.terminate() == 0
        written = await stream_count(nats_server.url, topo.buffers("cat")[0])
        assert await stream_count(nats_server.url, topo.buffers("everything")[0]) == 0
        reason = "forwarding-rules-not-met"
        await wait_for(lambda: cat.metric("forwarder_drop_total", reason=reason) >= written, 30, "drops")
        await wait_for(lambda: cat.metric("forwarder_ack_total") >= written, 30, "acks")
        report("no-match", written=written, dropped=cat.metric("forwarder_drop_total", reason=reason))
        assert cat.metric("forwarder_drop_total", reason=reason) == written
        assert await stream_count(nats_server.url, topo.buffers("nowhere")[0]) == 0
        assert procs["nowhere"].log_lines() == []
    finally:
        for p in procs.values():
            p.stop()


@pytest.mark.timeout(150)
async def test_three_partitions_spread_by_id_and_a_keyed_edge_keeps_each_key_in_order(nats_server, tmp_path):
    topo = Topology(
        vertices=[
            {"name": "in", "source": generator(300, "100ms", keyCount=3)},
            {"name": "cat", "partitions": 3, **UDF},
            {"name": "out", **LOG},
            {"name": "ord", "partitions": 3, "ordered": {"enabled": True}, **LOG},
        ],
        edges=[{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}, {"from": "in", "to": "ord"}],
    )
    await topo.create(nats_server.url)
    procs = {n: VertexProc(topo, n, nats_server.url, tmp_path) for n in ("out", "ord", "cat", "in")}
    try:
        procs["cat"].udf("map_cat")
        for p in procs.values():
            p.start()
        for p in procs.values():
            await p.wait_ready()
        src, out, ordered = procs["in"], procs["out"], procs["ord"]
        await wait_for(lambda: src.metric("forwarder_write_total") >= 2 * 3000, 60, "generated messages")
        assert src.terminate() == 0
        produced = (
            await produced_ids(nats_server.url, topo.buffers("ord")[0])
            | await produced_ids(nats_server.url, topo.buffers("ord")[1])
            | await produced_ids(nats_server.url, topo.buffers("ord")[2])
        )
        counts = [await stream_count(nats_server.url, b) for b in topo.buffers("cat")]
        await wait_for(lambda: set(out.logged_ids()) >= produced, 60, "every id at out")
        await wait_for(lambda: len(ordered.log_lines()) >= len(produced), 60, "every id at ord")
        lost = produced - set(out.logged_ids())
        report("partitions", produced=len(produced), per_partition=counts, lost=len(lost))
        assert lost == set()
        assert sum(counts) == len(produced)
        assert all(c > len(produced) / 6 for c in counts)  # spread, not piled on one partition
        # keyed: each key in exactly one partition, and in generation order
        partitions: dict[str, set[str]] = defaultdict(set)
        sequence: dict[str, list[int]] = defaultdict(list)
        for payload, keys, _et, _h, read_id in ordered.log_lines():
            partitions[keys].add(read_id.split("-")[-2])
            sequence[keys].append(int(payload.split('"id":"')[1].split("-")[0]))
        assert set(partitions) == {"key-0", "key-1", "key-2"}
        assert all(len(p) == 1 for p in partitions.values())
        assert all(s == sorted(s) for s in sequence.values())
        assert sum(len(s) for s in sequence.values()) == len(produced)
    finally:
        for p in procs.values():
            p.stop()
