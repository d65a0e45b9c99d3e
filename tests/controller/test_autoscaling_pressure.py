"""The autoscaler on the local cluster, continued: a full downstream buffer blocks scale-up (NumaFlow's
back pressure) and messages in flight alone do not scale a vertex out (#630)."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.api import Vertex
from numaflux.controller.autoscaler.decide import PartitionLoad, desired_replicas
from numaflux.controller.kube import PIPELINE, VERTEX, KubeClient

from .accounting import Accounting
from .cluster import Cluster, Process
from .helpers import until
from .test_autoscaling import at, decisions, pipeline, scale_events, scaling_manager, slow_udf, watching
from .test_pipeline_e2e import create_isb, isb_url

__all__ = ["scaling_manager"]


@pytest.mark.timeout(240)
async def test_a_full_downstream_buffer_blocks_scale_up_and_messages_in_flight_do_not_scale_out(
    cluster: Cluster, kube: KubeClient, namespace: str, scaling_manager: Process
) -> None:
    """Two pipelines at once. `bp`: behind the UDF under test sits a UDF at 1 replica that handles
    10 msg/s, so its buffer stays full; the UDF's own backlog asks for more replicas, but a full buffer
    downstream means more replicas could not write anywhere: it must stay at 1. `inflight` (#630):
    messages that take 4 s each are read at once (ack-pending, nothing pending); the UDF must stay at 1
    although NumaFlow's formula, counting them as pending, asks for more."""
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running", 90)
    small = {"bufferMaxLength": 40, "bufferUsageLimit": 80}
    bp = pipeline(
        namespace,
        "bp",
        slow_udf(0.01),
        {"min": 1, "max": 3, "lookbackSeconds": 10},  # the choke's pace makes reads bursty
        {"min": 1, "max": 1},
        udf_limits={"readBatchSize": 4, "bufferMaxLength": 1000},  # room for a backlog in front of it
        choke=slow_udf(0.1),
        limits=small,
    )
    # One message at a time through the choke: each ack frees one slot that `slow` refills at once, so
    # the buffer stays above 0.9 of its limit instead of emptying and refilling batch by batch.
    (choke,) = [v for v in bp["spec"]["vertices"] if v["name"] == "choke"]
    choke["limits"] = {"readBatchSize": 1}
    ack = pipeline(
        namespace,
        "inflight",
        slow_udf(4, serial=False),
        {"min": 1, "max": 5, "targetBufferAvailability": 100},
        {"min": 1, "max": 1},
        udf_limits={"readBatchSize": 20},
        limits={"bufferMaxLength": 500, "bufferUsageLimit": 50},
    )
    await kube.create(PIPELINE, bp)
    await kube.create(PIPELINE, ack)
    async with (
        watching(kube, namespace) as watch,
        Accounting(cluster, kube, namespace, pipeline="bp") as bp_acct,
        Accounting(cluster, kube, namespace, pipeline="inflight") as ack_acct,
    ):
        for name in (
            "bp-in",
            "bp-slow",
            "bp-choke",
            "bp-out",
            "inflight-in",
            "inflight-slow",
            "inflight-out",
        ):
            await at(watch, name, 1, f"{name} at 1, ready", 90)

        async def waves() -> None:
            for _ in range(6):
                await ack_acct.send(6, senders=6)
                await asyncio.sleep(3)

        wave_task = asyncio.create_task(waves())
        sending = bp_acct.start_sending(200)

        async def blocked() -> bool:
            lines = decisions(scaling_manager, f"{namespace}/bp-slow")
            return sum(d["decision"] == "BackPressure" for d in lines) >= 3

        await until(blocked, "bp-slow skipped for back pressure on 3 visits", 90)
        assert await sending > 0
        await bp_acct.assert_nothing_lost("back pressure", within=90)
        await wave_task
        await ack_acct.assert_nothing_lost("slow messages", within=60)

    bp_lines = decisions(scaling_manager, f"{namespace}/bp-slow")
    full = [d for d in bp_lines if float(d.get("downstream", "0")) >= 0.9 and "formula" in d]
    wanting = [d for d in full if int(d["formula"]) > int(d["current"])]
    pressed = [d for d in wanting if d["decision"] == "BackPressure"]
    ups = [d for d in bp_lines if d["kind"] == "scaled" and int(d["replicas"]) > int(d["current"])]
    moved = [(d["current"], d["replicas"], d.get("downstream")) for d in ups]
    print(
        f"\nback pressure: {len(full)} visits saw the choke's buffer full, {len(wanting)} of them with a "
        f"backlog asking for more, {len(pressed)} blocked; scale-ups (from, to, downstream usage) {moved}"
    )
    assert pressed, bp_lines[-5:]
    assert not [d for d in wanting if d["kind"] == "scaled" and int(d["replicas"]) > int(d["current"])]
    assert all(float(d.get("downstream", "0")) < 0.9 for d in ups), ups

    lines = decisions(scaling_manager, f"{namespace}/inflight-slow")
    measured = [d for d in lines if "ackPending" in d and "rate" in d]
    in_flight = [d for d in measured if int(d["ackPending"]) > 0 and int(d.get("pending", "0")) == 0]
    v = Vertex.model_validate(await kube.get(VERTEX, namespace, "inflight-slow"))
    numaflow = [
        desired_replicas(v, [PartitionLoad(float(d["rate"]), int(d["ackPending"]))], 1, 500, 0.5)[0]
        for d in in_flight
        if float(d["rate"]) > 0
    ]
    print(
        f"#630: {len(in_flight)} visits with only in-flight messages "
        f"(ackPending {[d['ackPending'] for d in in_flight]}); NumaFlow's count would ask for {numaflow}"
    )
    assert in_flight, lines[-5:]
    assert any(n > 1 for n in numaflow), "the run never had the conditions of #630"
    assert max(watch.seen["inflight-slow"]) == 1, watch.seen["inflight-slow"]
    assert not await scale_events(kube, namespace, "inflight-slow")
