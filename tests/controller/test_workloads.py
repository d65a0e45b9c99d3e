"""Local Deployment and StatefulSet controllers against the real API server and kubelet."""

from __future__ import annotations

import re

import pytest

from numaflux.controller.kube import DEPLOYMENT, STATEFUL_SET, KubeClient

from .cluster import Process
from .helpers import is_ready, pods_of, until, workload

pytestmark = pytest.mark.timeout(120)


async def ready_pods(kube: KubeClient, namespace: str, prefix: str, count: int) -> list[dict] | None:
    pods = await pods_of(kube, namespace, prefix)
    return pods if len(pods) == count and all(is_ready(p) for p in pods) else None


async def test_deployment_pods_follow_scale_one_two_one_and_a_template_change_replaces_them(
    manager: Process, kube: KubeClient, namespace: str
) -> None:
    await kube.create(DEPLOYMENT, workload("Deployment", "web", namespace, 1))
    (first,) = await until(lambda: ready_pods(kube, namespace, "web-", 1), "1 pod")
    assert re.fullmatch(
        r"web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", first["metadata"]["name"]
    )
    owner = first["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web", True)

    await kube.patch(DEPLOYMENT, namespace, "web", {"spec": {"replicas": 2}}, sub="scale")
    two = await until(lambda: ready_pods(kube, namespace, "web-", 2), "2 pods")
    assert first["metadata"]["uid"] in {p["metadata"]["uid"] for p in two}

    await kube.patch(DEPLOYMENT, namespace, "web", {"spec": {"replicas": 1}}, sub="scale")
    (kept,) = await until(lambda: ready_pods(kube, namespace, "web-", 1), "back to 1 pod")
    assert kept["metadata"]["uid"] == first["metadata"]["uid"]  # the newest pod went

    async def settled() -> dict | None:
        dep = await kube.get(DEPLOYMENT, namespace, "web")
        status = dep.get("status") or {}
        want = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}
        if {k: status.get(k) for k in want} == want and status.get("observedGeneration") == dep["metadata"][
            "generation"
        ]:
            return status
        return None

    status = await until(settled, "Deployment status")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }

    await kube.patch(
        DEPLOYMENT, namespace, "web", {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}}
    )

    async def rolled() -> list[dict] | None:
        pods = await ready_pods(kube, namespace, "web-", 1)
        return pods if pods and pods[0]["metadata"]["uid"] != first["metadata"]["uid"] else None

    (new,) = await until(rolled, "template change rolled out")
    assert new["metadata"]["annotations"]["rev"] == "2"
    assert new["metadata"]["labels"]["pod-template-hash"] != first["metadata"]["labels"]["pod-template-hash"]


async def test_statefulset_pods_are_named_by_ordinal_and_scale_down_removes_the_highest(
    manager: Process, kube: KubeClient, namespace: str
) -> None:
    await kube.create(STATEFUL_SET, workload("StatefulSet", "db", namespace, 3))
    pods = await until(lambda: ready_pods(kube, namespace, "db-", 3), "3 pods")
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    assert [p["metadata"]["labels"]["apps.kubernetes.io/pod-index"] for p in pods] == ["0", "1", "2"]
    assert pods[0]["spec"]["hostname"] == "db-0"
    created = [p["metadata"]["creationTimestamp"] for p in pods]
    assert created == sorted(created)  # OrderedReady: one after the other

    await kube.patch(STATEFUL_SET, namespace, "db", {"spec": {"replicas": 1}}, sub="scale")
    (kept,) = await until(lambda: ready_pods(kube, namespace, "db-", 1), "1 pod")
    assert kept["metadata"]["uid"] == pods[0]["metadata"]["uid"]

    async def settled() -> dict | None:
        status = (await kube.get(STATEFUL_SET, namespace, "db")).get("status") or {}
        want = {"replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1}
        return status if {k: status.get(k) for k in want} == want else None

    status = await until(settled, "StatefulSet status")
    assert (
        status["currentRevision"]
        == status["updateRevision"]
        == kept["metadata"]["labels"]["controller-revision-hash"]
    )
