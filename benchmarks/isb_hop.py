"""One vertex hop through numaflux.isb versus a hand-written raw nats-py hop, same server, same run.

Hop = pull a batch from buffer A → write it to buffer B (with Nats-Msg-Id) → wait for every PubAck →
ack the input. Both hops use NumaFlow's buffer settings (explicit acks), readBatchSize 500 and 100-byte
payloads. The numaflux hop also decodes and re-encodes every ISB message and gives it the map-output id,
which is what a real forwarder does; its acks are confirmed by the server (in the background), the raw
hop's are fire-and-forget. Rounds run raw then numaflux back to back; the reported ratio is the median of
the per-round ratios (paired, so load from other processes mostly cancels). Client CPU per message too.

`python -m benchmarks.isb_hop [N]` (default 100000 messages per hop and round; env ISB_HOP_ROUNDS=2).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from numaflux.isb import (
    BufferReader,
    BufferWriter,
    Message,
    MessageID,
    Publisher,
    connect,
    create_buffers,
    delete_buffers,
    encode_message,
)
from numaflux.isb.server import NatsServer

BATCH = 500
PAYLOAD = b"x" * 100
ID_HEADER = "Nats-Msg-Id"


async def preload(nc: NATS, buffer: str, n: int) -> None:
    """Fill `buffer` with `n` encoded ISB messages (untimed)."""
    pub = Publisher(nc, window=2048)
    await pub.start()
    now = time.time_ns()
    for start in range(0, n, 5000):
        msgs = [
            Message(PAYLOAD, MessageID("gen", f"{i}-0", 0), now + i)
            for i in range(start, min(n, start + 5000))
        ]
        results = await pub.publish(buffer, [encode_message(m) for m in msgs], [str(m.id) for m in msgs])
        if not all(r.ok for r in results):
            raise RuntimeError(f"preload of {buffer} failed: {results[0]}")
    await pub.close()


async def raw_hop(nc: NATS, src: str, dst: str, n: int) -> float:
    """The feasibility study's raw hop, with NumaFlow's explicit per-message acks and dedup ids."""
    inbox, ack_prefix = nc.new_inbox(), nc.new_inbox()
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{src}.{src}"
    request = json.dumps({"batch": BATCH, "expires": 1_000_000_000}).encode()
    batches: asyncio.Queue[list[Msg]] = asyncio.Queue()
    current: list[Msg] = []
    acked = 0
    acks_arrived = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        nonlocal current
        if not msg.reply:  # status: the pull ended
            if current:
                batches.put_nowait(current)
                current = []
            return
        current.append(msg)
        if len(current) == BATCH:
            batches.put_nowait(current)
            current = []

    async def on_ack(msg: Msg) -> None:
        nonlocal acked
        acked += 1
        acks_arrived.set()

    sub_in = await nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
    sub_ack = await nc.subscribe(ack_prefix + ".*", cb=on_ack, pending_msgs_limit=-1, pending_bytes_limit=-1)
    reply = ack_prefix + ".a"
    done = sent = 0
    t0 = time.perf_counter()
    await nc.publish(next_subject, request, reply=inbox)
    await nc.publish(next_subject, request, reply=inbox)
    while done < n:
        batch = await batches.get()
        if done + len(batch) < n:
            await nc.publish(next_subject, request, reply=inbox)
        for msg in batch:
            headers = msg.headers or {}
            await nc.publish(dst, msg.data, reply=reply, headers={ID_HEADER: "hop-" + headers[ID_HEADER]})
        sent += len(batch)
        while acked < sent:
            acks_arrived.clear()
            await acks_arrived.wait()
        for msg in batch:
            await nc.publish(msg.reply, b"+ACK")
        done += len(batch)
    await nc.flush()
    elapsed = time.perf_counter() - t0
    await sub_in.unsubscribe()
    await sub_ack.unsubscribe()
    return elapsed


async def numaflux_hop(nc: NATS, src: str, dst: str, n: int) -> float:
    """The same hop through BufferReader → BufferWriter → ack."""
    js = nc.jetstream()
    reader = BufferReader(nc, src, vertex_name="hop", batch_size=BATCH, read_timeout=1.0)
    await reader.start()
    publisher = Publisher(nc)
    await publisher.start()
    writer = BufferWriter(js, publisher, dst, max_length=10 * n, usage_limit=1.0)
    await writer.refresh()
    done = 0
    t0 = time.perf_counter()
    while done < n:
        batch = await reader.read()
        out = []
        for rm in batch:
            m = rm.message
            out_id = MessageID("hop", f"{rm.id.offset}-0", 0)  # map output: "{parent offset}-{parent index}"
            out.append(Message(m.payload, out_id, m.event_time_ns, m.keys, m.headers))
        results = await writer.write(out)
        if not all(r.ok for r in results):
            raise RuntimeError(f"numaflux hop: write failed: {next(r for r in results if not r.ok)}")
        await reader.ack(batch, wait=False)  # confirmed in the background, as NumaFlow's core does
        done += len(batch)
    await reader.wait_for_acks()
    elapsed = time.perf_counter() - t0
    reader.stop()
    await reader.close()
    await publisher.close()
    return elapsed


async def run(n: int, rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="isb-hop-") as tmp:
        server = NatsServer(Path(tmp) / "store")
        server.start()
        try:
            nc = await connect(server.url, name="isb-hop-bench")
            js = nc.jetstream()
            rates: dict[str, list[float]] = {"raw": [], "numaflux": []}
            cpu: dict[str, list[float]] = {"raw": [], "numaflux": []}
            for r in range(rounds):
                for kind in ("raw", "numaflux"):
                    src, dst = f"bench-{kind}-{r}-in", f"bench-{kind}-{r}-out"
                    await create_buffers(js, [src, dst])
                    await preload(nc, src, n)
                    hop = raw_hop if kind == "raw" else numaflux_hop
                    cpu0 = time.process_time()
                    elapsed = await hop(nc, src, dst, n)
                    cpu_us = (time.process_time() - cpu0) / n * 1e6
                    stored = (await js.stream_info(dst)).state.messages
                    if stored != n:
                        raise RuntimeError(f"{kind} hop stored {stored} of {n} messages")
                    rates[kind].append(n / elapsed)
                    cpu[kind].append(cpu_us)
                    print(
                        f"isb_hop round {r + 1} {kind:8s}: {n / elapsed:9,.0f} msgs/s, "
                        f"client CPU {cpu_us:5.1f} us/msg ({n} in {elapsed:.2f}s)",
                        flush=True,
                    )
                    await delete_buffers(js, [src, dst])
            await nc.close()
        finally:
            server.stop()
    # rounds are paired (raw then numaflux, back to back), so load from other processes mostly cancels
    ratios = [ours / raw for raw, ours in zip(rates["raw"], rates["numaflux"], strict=True)]
    cpu_ratio = statistics.median(cpu["raw"]) / statistics.median(cpu["numaflux"])
    raw = statistics.median(rates["raw"])
    ours = statistics.median(rates["numaflux"])
    return {
        "benchmark": "isb_hop",
        "messages_per_hop": n,
        "rounds": rounds,
        "batch": BATCH,
        "raw_msgs_per_s": round(raw),
        "numaflux_msgs_per_s": round(ours),
        "ratio": round(statistics.median(ratios), 3),
        "round_ratios": [round(x, 3) for x in ratios],
        "raw_cpu_us_per_msg": round(statistics.median(cpu["raw"]), 1),
        "numaflux_cpu_us_per_msg": round(statistics.median(cpu["numaflux"]), 1),
        "cpu_ratio": round(cpu_ratio, 3),
        "target": 0.8,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100_000
    rounds = int(os.environ.get("ISB_HOP_ROUNDS", "3"))
    report = asyncio.run(run(n, rounds))
    print(json.dumps(report), flush=True)
    print(
        f"isb_hop: numaflux/raw = {report['ratio']} by throughput, {report['cpu_ratio']} by client CPU "
        "(target >= 0.8)",
        flush=True,
    )


if __name__ == "__main__":
    main()
