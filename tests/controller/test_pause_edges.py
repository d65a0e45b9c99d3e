"""Pause edge cases on the local cluster: an idle pipeline drains at once (NumaFlow #2413), and a buffer whose
reader runs no pods is named and the pause ends at the grace period instead of hanging (#2535)."""

from __future__ import annotations

import time

import pytest

from numaflux.controller.kube import JSON, PIPELINE, KubeClient
from numaflux.local import lifecycle as lc

from .cluster import Cluster, Process
from .helpers import events_about, until
from .test_pipeline_e2e import (
    _absent,
    all_vertex_pods,
    create_isb,
    every_vertex_ready,
    isb_url,
    phase_is,
    set_desired,
)

pytestmark = pytest.mark.timeout(240)


def idle_pipeline(namespace: str) -> JSON:
    """An HTTP source nobody posts to: no data ever enters the buffers."""
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": 60},
            "vertices": [
                {"name": "in", "source": {"http": {}}},
                {"name": "cat", "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}}},
                {"name": "out", "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


def stuck_pipeline(namespace: str, grace: int) -> JSON:
    """A generator feeding `cat`, which is held at 0 pods by min = max = 0: its buffer can never drain."""
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {"pauseGracePeriodSeconds": grace},
            "vertices": [
                {"name": "in", "source": {"generator": {"rpu": 20, "duration": "1s"}}},
                {
                    "name": "cat",
                    "scale": {"min": 0, "max": 0},
                    "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}},
                },
                {"name": "out", "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


async def test_an_idle_pipeline_pauses_drained_at_the_first_check(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)
    await kube.create(PIPELINE, idle_pipeline(namespace))
    await until(
        lambda: every_vertex_ready(kube, namespace, {"pl-in": 1, "pl-cat": 1, "pl-out": 1}),
        "every vertex Ready",
        120,
    )
    await until(lambda: phase_is(kube, namespace, "Running"), "pipeline Running", 60)

    started = time.monotonic()
    await set_desired(kube, namespace, "Paused")
    paused = await until(lambda: phase_is(kube, namespace, "Paused"), "pipeline Paused", 60)
    took = time.monotonic() - started
    assert paused["status"]["drainedOnPause"] is True
    reasons = [r for r, _ in await events_about(kube, namespace, "Pipeline", "PipelinePaused")]
    assert "PauseTimedOut" not in reasons
    # Drained well inside the 60 s grace period (the latency itself is measured in `make bench`).
    print(f"\nidle pipeline: pause→Paused {took:.2f}s")
    await kube.delete(PIPELINE, namespace, "pl")
    await until(lambda: _absent(kube, namespace), "pipeline deleted", 60)


async def test_a_buffer_whose_reader_runs_no_pods_is_named_and_the_pause_ends_at_the_grace_period(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    grace = 6
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)
    await kube.create(PIPELINE, stuck_pipeline(namespace, grace))
    await until(
        lambda: every_vertex_ready(kube, namespace, {"pl-in": 1, "pl-cat": 0, "pl-out": 1}),
        "source and sink Ready, cat at 0 pods",
        120,
    )
    buffer = f"{namespace}-pl-cat-0"

    async def backlog() -> bool:
        pl = await kube.get(PIPELINE, namespace, "pl")
        reader = lc.BufferReader(kube)
        try:
            infos = {i.buffer: i for i in await reader.read(pl)}
        finally:
            await reader.close()
        return buffer in infos and infos[buffer].pending > 0

    await until(backlog, f"{buffer} holds messages", 60)
    await set_desired(kube, namespace, "Paused")
    paused = await until(
        lambda: phase_is(kube, namespace, "Paused"), "pipeline Paused at the grace period", 90
    )
    assert paused["status"]["drainedOnPause"] is False
    events = await events_about(kube, namespace, "Pipeline", "WaitingForDrain", "PauseTimedOut")
    waiting = [m for r, m in events if r == "WaitingForDrain"]
    timed_out = [m for r, m in events if r == "PauseTimedOut"]
    assert any(buffer in m and "runs 0 pods" in m for m in waiting), waiting
    assert len(timed_out) == 1 and buffer in timed_out[0] and f"grace period {grace}s" in timed_out[0]

    async def no_pods() -> bool:
        return await all_vertex_pods(kube, namespace) == []

    await until(no_pods, "every vertex at 0 pods after the timed-out pause", 60)
    await kube.delete(PIPELINE, namespace, "pl")
    await until(lambda: _absent(kube, namespace), "pipeline deleted", 90)
