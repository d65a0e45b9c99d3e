"""The ISB service controller on the local cluster: a real nats-server pod, its URL, persistence, deletion."""

from __future__ import annotations

import re

import nats
import pytest

from numaflux.controller.kube import EVENT, ISB_SERVICE, POD, STATEFUL_SET, KubeClient

from .cluster import Cluster, Process
from .helpers import get_or_none, is_ready, pods_of, until

pytestmark = pytest.mark.timeout(150)


async def healthy(kube: KubeClient, namespace: str, name: str) -> dict | None:
    obj = await kube.get(ISB_SERVICE, namespace, name)
    status = obj.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    url = ((status.get("config") or {}).get("jetstream") or {}).get("url")
    if status.get("phase") == "Running" and set(conditions.values()) == {"True"} and url:
        return obj
    return None


async def test_an_isb_service_runs_nats_and_publishes_a_url_that_takes_streams_which_survive_the_pod(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    await kube.create(
        ISB_SERVICE,
        {
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"jetstream": {"version": "latest"}},
        },
    )
    isb = await until(lambda: healthy(kube, namespace, "default"), "ISB service healthy")
    status = isb["status"]
    url = status["config"]["jetstream"]["url"]
    assert re.fullmatch(r"nats://127\.\d+\.\d+\.\d+:4222", url)
    assert status["observedGeneration"] == isb["metadata"]["generation"]
    assert status["type"] == "jetstream"
    assert "isbsvc-controller" in isb["metadata"]["finalizers"]
    (pod,) = await pods_of(kube, namespace, "isbsvc-default-js-")
    assert pod["metadata"]["name"] == "isbsvc-default-js-0"
    assert url == f"nats://{pod['status']['podIP']}:4222"

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="probe", subjects=["probe"])
        ack = await js.publish("probe", b"hello")
        assert ack.seq == 1
    finally:
        await nc.close()

    # The pod is replaced: same name, new address, same JetStream data (hostPath under the data dir).
    await kube.delete(POD, namespace, "isbsvc-default-js-0")

    async def replaced() -> dict | None:
        pods = await pods_of(kube, namespace, "isbsvc-default-js-")
        if [p["metadata"]["uid"] for p in pods] in ([], [pod["metadata"]["uid"]]) or not is_ready(pods[0]):
            return None
        isb = await healthy(kube, namespace, "default")
        expected = f"nats://{pods[0]['status']['podIP']}:4222"
        return isb if isb is not None and isb["status"]["config"]["jetstream"]["url"] == expected else None

    isb = await until(replaced, "a new ISB pod, ready, and its URL published", 90)
    new_url = isb["status"]["config"]["jetstream"]["url"]
    nc = await nats.connect(new_url)
    try:
        info = await nc.jetstream().stream_info("probe")
        assert info.state.messages == 1
    finally:
        await nc.close()

    events = (await kube.list(EVENT, namespace)).get("items") or []
    reasons = {(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in events}
    assert ("InterStepBufferService", "Created", "created StatefulSet isbsvc-default-js") in reasons

    data = cluster.data_dir / "isbsvc" / namespace / "default"
    assert (data / "isbsvc-default-js-0").is_dir()
    await kube.delete(ISB_SERVICE, namespace, "default")
    await until(
        lambda: _gone(kube, namespace),
        "ISB service, StatefulSet and pods deleted",
    )
    assert not data.exists()


async def _gone(kube: KubeClient, namespace: str) -> bool:
    return (
        await get_or_none(kube, ISB_SERVICE, namespace, "default") is None
        and await get_or_none(kube, STATEFUL_SET, namespace, "isbsvc-default-js") is None
        and not await pods_of(kube, namespace, "isbsvc-default-js-")
    )


async def test_an_isb_service_without_jetstream_fails_as_not_configured(
    manager: Process, kube: KubeClient, namespace: str
) -> None:
    await kube.create(ISB_SERVICE, {"metadata": {"name": "empty", "namespace": namespace}, "spec": {}})

    async def failed() -> dict | None:
        status = (await kube.get(ISB_SERVICE, namespace, "empty")).get("status") or {}
        return status if status.get("phase") == "Failed" else None

    status = await until(failed, "ISB service Failed")
    configured = next(c for c in status["conditions"] if c["type"] == "Configured")
    assert (configured["status"], configured["reason"]) == ("False", "InvalidSpec")
    assert "spec.jetstream" in status["message"]
