"""The seed scenario of the pipeline lifecycle on the local cluster, with message accounting.

Three vertices at 2, 3 and 1 replicas; numbered messages sent over HTTP (a 200 means the message was
written to the ISB); pause and drain; the controller killed; the ISB service made unhealthy and healthy
again while no controller runs; a controller of a new version (its pods run another image tag); resume →
every vertex back at its replicas, Ready, and every accepted message found at the log sink.
"""

from __future__ import annotations

import time

import pytest

from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, VERTEX, KubeClient

from .accounting import Accounting, make_isb_unhealthy_then_healthy, restart_controller
from .cluster import Cluster, Process
from .helpers import get_or_none, until
from .test_pipeline_e2e import (
    _absent,
    all_vertex_pods,
    create_isb,
    every_vertex_ready,
    isb_url,
    paused_without_pods,
    phase_is,
    set_desired,
    vertices_of,
)

NEW_VERSION = "quay.io/numaproj/numaflow:v-next"
TARGET = {"pl-in": 2, "pl-cat": 3, "pl-out": 1}


def seed_pipeline(namespace: str) -> JSON:
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": 20},
            "vertices": [
                {
                    "name": "in",
                    "scale": {"min": 1, "max": 3},
                    "source": {"http": {"ports": {"http": 8090}}},
                },
                {
                    "name": "cat",
                    "scale": {"min": 1, "max": 3},
                    "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}},
                },
                {"name": "out", "scale": {"min": 1, "max": 1}, "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


async def start_at_target(kube: KubeClient, namespace: str) -> None:
    """ISB service, then the seed pipeline with its vertices scaled to 2, 3 and 1, every pod Ready."""
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)
    await kube.create(PIPELINE, seed_pipeline(namespace))
    await until(lambda: every_vertex_ready(kube, namespace, {n: 1 for n in TARGET}), "every vertex at 1", 120)
    await kube.patch(VERTEX, namespace, "pl-in", {"spec": {"replicas": 2}})
    await kube.patch(VERTEX, namespace, "pl-cat", {"spec": {"replicas": 3}})
    await until(lambda: every_vertex_ready(kube, namespace, TARGET), "vertices at 2, 3, 1", 120)


async def send_then_pause(kube: KubeClient, namespace: str, acct: Accounting, total: int) -> float:
    """Numbered messages over both source pods, the pause set while the second half is still being sent;
    returns the seconds from the pause to Paused with 0 pods."""
    assert len(await acct.source_urls()) == 2
    sending = acct.start_sending(total)
    await until(lambda: _at_least(acct, total // 2), "half of the messages accepted", 60)
    started = time.monotonic()
    await set_desired(kube, namespace, "Paused")
    await sending
    await until(lambda: paused_without_pods(kube, namespace), "Paused, drained, 0 pods", 90)
    assert acct.accepted, "no message was accepted before the pause"
    return time.monotonic() - started


async def assert_back_at_target_and_nothing_lost(
    kube: KubeClient, namespace: str, acct: Accounting, label: str
) -> str:
    """Every vertex Running at 2, 3, 1; 20 more messages accepted; every accepted id at the sink.
    Returns the accounting line."""
    running = await until(lambda: phase_is(kube, namespace, "Running"), "pipeline Running", 60)
    assert running["status"].get("drainedOnPause") is not True
    for v in await vertices_of(kube, namespace):
        st = v["status"]
        want = TARGET[v["metadata"]["name"]]
        assert (v["spec"]["replicas"], st["desiredReplicas"], st["readyReplicas"]) == (want, want, want)
        assert v["spec"]["lifecycle"]["desiredPhase"] == "Running"
    # After the resume the pipeline still carries data end to end.
    before = len(acct.accepted)
    await acct.send_all(20)
    tally = await acct.assert_nothing_lost(label)
    return f"before the pause {before}, after the resume 20; {tally.line()}"


@pytest.mark.timeout(300)
async def test_seed_scenario_pause_restart_upgrade_isb_outage_resume_restores_every_vertex(
    cluster: Cluster, kube: KubeClient, namespace: str
) -> None:
    first: Process | None = await restart_controller(cluster)
    second: Process | None = None
    try:
        async with Accounting(cluster, kube, namespace) as acct:
            await start_at_target(kube, namespace)
            paused_after = await send_then_pause(kube, namespace, acct, 300)

            # Stop the controller hard, take the ISB service down and back up with no controller running.
            assert first is not None
            first.kill()
            first = None
            outage = await make_isb_unhealthy_then_healthy(kube, namespace)
            assert await all_vertex_pods(kube, namespace) == []

            # The new version: a fresh controller process whose pods run another image tag.
            second = await restart_controller(cluster, "--image", NEW_VERSION)
            await until(
                lambda: paused_without_pods(kube, namespace), "still Paused under the new controller", 60
            )
            started = time.monotonic()
            await set_desired(kube, namespace, "Running")
            await until(
                lambda: every_vertex_ready(kube, namespace, TARGET), "every vertex back at 2, 3, 1", 150
            )
            resumed_after = time.monotonic() - started
            line = await assert_back_at_target_and_nothing_lost(kube, namespace, acct, "seed")
        print(
            f"\nseed: {line}; pause→Paused {paused_after:.2f}s, ISB pod not Ready {outage:.2f}s, "
            f"resume→all Ready {resumed_after:.2f}s"
        )
        await kube.delete(PIPELINE, namespace, "pl")
        await until(lambda: _absent(kube, namespace), "pipeline deleted", 60)
    finally:
        if first is not None and first.running():
            first.terminate()
        if second is not None and second.running():
            assert second.terminate() == 0, second.output()[-3000:]


@pytest.mark.timeout(300)
async def test_resume_after_the_pipeline_went_failed_during_the_pause_restores_every_vertex(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    """NumaFlow #2331: resume was decided from status.phase, Failed after the ISB change, and only the
    source came back."""
    async with Accounting(cluster, kube, namespace) as acct:
        await start_at_target(kube, namespace)
        await send_then_pause(kube, namespace, acct, 200)
        # Drained means delivered: everything accepted is at the sink before the ISB service goes away.
        assert (await acct.settle(30)).lost == []
        await kube.delete(ISB_SERVICE, namespace, "default")
        failed = await until(
            lambda: phase_is(kube, namespace, "Failed"), "pipeline Failed without its ISB", 60
        )
        assert "isbsvc default" in failed["status"]["message"]
        assert await all_vertex_pods(kube, namespace) == []

        async def isb_gone() -> bool:
            return await get_or_none(kube, ISB_SERVICE, namespace, "default") is None

        await until(isb_gone, "ISB service deleted", 60)
        await create_isb(kube, namespace)
        # Resume while the pipeline still reports Failed: the decision must not come from status.phase.
        still = await kube.get(PIPELINE, namespace, "pl")
        phase_at_resume = still["status"]["phase"]
        started = time.monotonic()
        await set_desired(kube, namespace, "Running")
        await until(lambda: every_vertex_ready(kube, namespace, TARGET), "every vertex back at 2, 3, 1", 180)
        resumed_after = time.monotonic() - started
        line = await assert_back_at_target_and_nothing_lost(kube, namespace, acct, "#2331")
    print(f"\n#2331: phase at resume {phase_at_resume}; {line}; resume→all Ready {resumed_after:.2f}s")
    await kube.delete(PIPELINE, namespace, "pl")
    await until(lambda: _absent(kube, namespace), "pipeline deleted", 60)


async def _at_least(acct: Accounting, n: int) -> bool:
    return len(acct.accepted) >= n
