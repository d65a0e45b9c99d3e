"""A Running pipeline whose ISB service turns unhealthy (its nats-server killed until the pod is not Ready)
goes Failed saying why, and is Running again once the ISB service is healthy — with no user action."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.controller.kube import JSON, PIPELINE, KubeClient

from .accounting import make_isb_unhealthy_then_healthy
from .cluster import Process
from .helpers import events_about, until
from .test_pipeline_e2e import create_isb, isb_url, phase_is
from .test_vertex_e2e import running_pipeline

pytestmark = pytest.mark.timeout(240)


async def test_an_unhealthy_isb_service_fails_the_pipeline_saying_why_and_it_recovers_by_itself(
    manager: Process, kube: KubeClient, namespace: str
) -> None:
    await create_isb(kube, namespace)
    await until(lambda: isb_url(kube, namespace), "ISB service Running with a URL", 90)
    created = await kube.create(PIPELINE, running_pipeline(namespace))
    generation = created["metadata"]["generation"]
    await until(lambda: phase_is(kube, namespace, "Running"), "pipeline Running", 120)

    failed: list[JSON] = []

    async def pipeline_failed() -> None:
        failed.append(await until(lambda: phase_is(kube, namespace, "Failed"), "pipeline Failed", 60))

    outage = await make_isb_unhealthy_then_healthy(kube, namespace, asyncio.ensure_future(pipeline_failed()))
    (seen,) = failed
    message = seen["status"]["message"]
    print(f"ISB pod not Ready for {outage:.1f}s; pipeline message: {message!r}")
    assert message.startswith("isbsvc default not healthy"), message
    deployed = next(cd for cd in seen["status"]["conditions"] if cd["type"] == "Deployed")
    assert deployed["status"] == "False" and deployed["message"].startswith("isbsvc default not healthy")
    events = await events_about(kube, namespace, "Pipeline", "ReconcileFixedResourcesFailed")
    assert any(
        r == "ReconcileFixedResourcesFailed" and m.startswith("isbsvc default not healthy") for r, m in events
    ), events

    back = await until(lambda: phase_is(kube, namespace, "Running"), "pipeline Running again", 120)
    assert back["metadata"]["generation"] == generation  # nobody touched the pipeline
    assert back["spec"] == created["spec"]
    assert not (back["status"].get("message") or "").startswith("isbsvc")
    await kube.delete(PIPELINE, namespace, "pl")
