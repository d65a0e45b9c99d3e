"""The Vertex controller on the local cluster: pods from the Vertex's own spec, `kubectl scale` clamped to
scale.max, and a controller killed with SIGKILL that comes back without recreating any pod."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from numaflux.api import constants as c
from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, POD, VERTEX, KubeClient

from .cluster import Cluster, Process, wait_for
from .helpers import until

pytestmark = pytest.mark.timeout(180)

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def running_pipeline(namespace: str) -> JSON:
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "vertices": [
                {"name": "in", "source": {"generator": {"rpu": 1, "duration": "1s"}}},
                {"name": "out", "sink": {"log": {}}, "scale": {"min": 1, "max": 2}},
            ],
            "edges": [{"from": "in", "to": "out"}],
        },
    }


async def start_isb(kube: KubeClient, namespace: str) -> None:
    await kube.create(
        ISB_SERVICE,
        {
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"jetstream": {"version": "latest"}},
        },
    )


async def vertex_pods(kube: KubeClient, namespace: str, vertex: str) -> list[JSON]:
    """Live Pod objects of one vertex (by its labels), by name."""
    items = (await kube.list(POD, namespace)).get("items") or []
    return sorted(
        (
            p
            for p in items
            if (p["metadata"].get("labels") or {}).get(c.KEY_VERTEX_NAME) == vertex
            and (p["metadata"].get("labels") or {}).get(c.KEY_COMPONENT) == c.COMPONENT_VERTEX
            and not p["metadata"].get("deletionTimestamp")
        ),
        key=lambda p: p["metadata"]["name"],
    )


def replicas_of(pods: list[JSON]) -> list[str]:
    return sorted(p["metadata"]["annotations"][c.KEY_REPLICA] for p in pods)


def kubectl(cluster: Cluster, namespace: str, *args: str) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_kubectl_scale_beyond_max_is_clamped_to_max_in_desired_replicas_and_pods(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str
) -> None:
    await start_isb(kube, namespace)
    await kube.create(PIPELINE, running_pipeline(namespace))

    async def one_pod() -> list[JSON] | None:
        pods = await vertex_pods(kube, namespace, "out")
        return pods if len(pods) == 1 else None

    (first,) = await until(one_pod, "one pod of pl-out", 90)
    assert first["metadata"]["name"].startswith("pl-out-0-")

    kubectl(cluster, namespace, "scale", "vtx", "pl-out", "--replicas", "5")

    async def clamped() -> JSON | None:
        v = await kube.get(VERTEX, namespace, "pl-out")
        status = v.get("status") or {}
        pods = await vertex_pods(kube, namespace, "out")
        if (status.get("desiredReplicas"), status.get("replicas")) == (2, 2) and replicas_of(pods) == [
            "0",
            "1",
        ]:
            return v
        return None

    vertex = await until(clamped, "desiredReplicas 2 and two pods (replicas 0 and 1)", 60)
    assert vertex["spec"]["replicas"] == 5  # the user's wish stays; the clamp is the controller's
    assert vertex["status"]["observedGeneration"] == vertex["metadata"]["generation"]
    pods = await vertex_pods(kube, namespace, "out")
    assert first["metadata"]["uid"] in {p["metadata"]["uid"] for p in pods}  # replica 0 was kept

    await kube.delete(PIPELINE, namespace, "pl")


async def test_a_controller_killed_with_sigkill_and_restarted_recreates_no_pod_and_converges(
    cluster: Cluster, kube: KubeClient, namespace: str
) -> None:
    cluster.ready_file.unlink(missing_ok=True)
    first = cluster.controller()
    try:
        wait_for(cluster.ready_file.exists, "controller ready")
        await start_isb(kube, namespace)
        await kube.create(PIPELINE, running_pipeline(namespace))

        async def settled() -> list[JSON] | None:
            pods = [*await vertex_pods(kube, namespace, "in"), *await vertex_pods(kube, namespace, "out")]
            pl = await kube.get(PIPELINE, namespace, "pl")
            if len(pods) == 2 and (pl.get("status") or {}).get("phase") == "Running":
                return pods
            return None

        before = await until(settled, "pipeline Running with one pod per vertex", 90)
        first.kill()
        assert cluster.ready_file.exists()  # a crash leaves it behind
    finally:
        if first.running():
            first.terminate()

    # While no controller runs, the user scales `out` within its bounds.
    cluster.ready_file.unlink()
    await kube.patch(VERTEX, namespace, "pl-out", {"spec": {"replicas": 2}})
    second = cluster.controller()
    try:
        wait_for(cluster.ready_file.exists, "restarted controller ready", 60)

        async def converged() -> list[JSON] | None:
            for name, replicas in (("pl-in", 1), ("pl-out", 2)):
                v = await kube.get(VERTEX, namespace, name)
                st = v.get("status") or {}
                if (
                    st.get("observedGeneration") != v["metadata"]["generation"]
                    or st.get("replicas") != replicas
                ):
                    return None
            pods = [*await vertex_pods(kube, namespace, "in"), *await vertex_pods(kube, namespace, "out")]
            return pods if len(pods) == 3 else None

        after = await until(converged, "status converged after the restart", 60)
        uids = {p["metadata"]["uid"] for p in after}
        assert {p["metadata"]["uid"] for p in before} <= uids  # nothing replaced, one pod added
        pl = await kube.get(PIPELINE, namespace, "pl")
        assert pl["status"]["phase"] == "Running"
        await kube.delete(PIPELINE, namespace, "pl")
    finally:
        assert second.terminate() == 0, second.output()[-3000:]
