"""Event aggregation and status writes against the real API server."""

from __future__ import annotations

import pytest

from numaflux.controller.events import EventRecorder
from numaflux.controller.kube import CONFIG_MAP, DEPLOYMENT, EVENT, KubeClient
from numaflux.controller.status import update_status

from .helpers import workload

pytestmark = pytest.mark.timeout(60)


async def test_repeated_events_are_one_event_with_a_count(kube: KubeClient, namespace: str) -> None:
    obj = await kube.create(CONFIG_MAP, {"metadata": {"name": "subject", "namespace": namespace}})
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "ConfigMap")
    recorder = EventRecorder(kube)
    for _ in range(3):
        recorder.warning(obj, "SomethingFailed", "it failed")
    recorder.normal(obj, "SomethingWorked", "it worked")
    await recorder.flush()
    events = (await kube.list(EVENT, namespace)).get("items") or []
    summary = sorted((e["type"], e["reason"], e["message"], e["count"]) for e in events)
    assert summary == [
        ("Normal", "SomethingWorked", "it worked", 1),
        ("Warning", "SomethingFailed", "it failed", 3),
    ]
    involved = events[0]["involvedObject"]
    assert (involved["kind"], involved["name"], involved["uid"]) == (
        "ConfigMap",
        "subject",
        obj["metadata"]["uid"],
    )


async def test_status_is_written_only_when_it_changes(kube: KubeClient, namespace: str) -> None:
    dep = await kube.create(DEPLOYMENT, workload("Deployment", "idle", namespace, 0))
    status = {"replicas": 0, "observedGeneration": 1, "conditions": [{"type": "Available", "status": "True"}]}
    assert await update_status(kube, DEPLOYMENT, dep, status)
    written = await kube.get(DEPLOYMENT, namespace, "idle")
    assert written["status"] == status
    assert not await update_status(kube, DEPLOYMENT, written, dict(status))
    assert (await kube.get(DEPLOYMENT, namespace, "idle"))["metadata"]["resourceVersion"] == written[
        "metadata"
    ]["resourceVersion"]
    assert await update_status(kube, DEPLOYMENT, written, {"replicas": 0})
    assert (await kube.get(DEPLOYMENT, namespace, "idle"))["status"] == {"replicas": 0}
