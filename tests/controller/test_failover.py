"""Crashes and hand-overs: kill -9 of the controller, a standby taking the lease, API server restarts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from numaflux.controller.informer import Informer
from numaflux.controller.kube import (
    CONFIG_MAP,
    DEPLOYMENT,
    ISB_SERVICE,
    LEASE,
    STATEFUL_SET,
    Kind,
    KubeClient,
)

from .cluster import Cluster, Process, wait_for
from .helpers import is_ready, pods_of, until, workload

pytestmark = pytest.mark.timeout(150)


async def uids(kube: KubeClient, namespace: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in await pods_of(kube, namespace, "")}


async def holder(kube: KubeClient) -> str:
    lease = await kube.get(LEASE, "default", "numaflux-controller-lock")
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def identity_of(proc: Process) -> str:
    return f"{socket.gethostname()}_{proc.pid}_"


async def test_a_killed_controller_restarts_without_recreating_pods_and_status_converges(
    cluster: Cluster, kube: KubeClient, namespace: str
) -> None:
    cluster.ready_file.unlink(missing_ok=True)
    first = cluster.controller()
    second: Process | None = None
    try:
        wait_for(cluster.ready_file.exists, "controller ready")
        await kube.create(
            ISB_SERVICE, {"metadata": {"name": "default", "namespace": namespace}, "spec": {"jetstream": {}}}
        )
        await kube.create(DEPLOYMENT, workload("Deployment", "web", namespace, 2))
        await kube.create(STATEFUL_SET, workload("StatefulSet", "db", namespace, 2))

        async def all_ready() -> dict[str, str] | None:
            pods = await pods_of(kube, namespace, "")
            isb = (await kube.get(ISB_SERVICE, namespace, "default")).get("status") or {}
            if len(pods) == 5 and all(is_ready(p) for p in pods) and isb.get("phase") == "Running":
                return await uids(kube, namespace)
            return None

        before = await until(all_ready, "ISB service, Deployment and StatefulSet running")
        await asyncio.sleep(1)  # let the last status writes land

        conditions = (await kube.get(ISB_SERVICE, namespace, "default"))["status"]["conditions"]
        first.kill()
        # While no controller runs, the recorded status goes stale.
        await kube.patch(ISB_SERVICE, namespace, "default", {"status": {"phase": "Pending"}}, sub="status")
        await kube.patch(DEPLOYMENT, namespace, "web", {"status": {"readyReplicas": 0}}, sub="status")

        cluster.ready_file.unlink(missing_ok=True)  # left behind by the SIGKILL
        second = cluster.controller()
        wait_for(cluster.ready_file.exists, "restarted controller ready")

        async def converged() -> bool:
            isb = (await kube.get(ISB_SERVICE, namespace, "default")).get("status") or {}
            dep = (await kube.get(DEPLOYMENT, namespace, "web")).get("status") or {}
            return isb.get("phase") == "Running" and dep.get("readyReplicas") == 2

        await until(converged, "status converged")
        await asyncio.sleep(1.5)  # a few more reconciles of everything
        assert await uids(kube, namespace) == before
        # Nothing transitioned, so the re-derived conditions keep their times.
        assert (await kube.get(ISB_SERVICE, namespace, "default"))["status"]["conditions"] == conditions
    finally:
        for proc in (first, second):
            if proc is not None and proc.running():
                assert proc.terminate() == 0


async def test_a_standby_does_not_reconcile_until_the_leader_dies(
    cluster: Cluster, kube: KubeClient, namespace: str
) -> None:
    cluster.ready_file.unlink(missing_ok=True)
    leader = cluster.controller()
    standby: Process | None = None
    try:
        wait_for(cluster.ready_file.exists, "leader ready")
        standby = cluster.controller()
        await until(lambda: _contains(standby, "waiting for the leader lease"), "standby campaigning")
        await kube.create(DEPLOYMENT, workload("Deployment", "one", namespace, 1))
        await until(lambda: _ready_count(kube, namespace, "one-", 1), "leader reconciles")
        await asyncio.sleep(4)  # longer than the 3 s lease: the leader keeps renewing
        assert (await holder(kube)).startswith(identity_of(leader))
        assert "controller started" not in standby.output()

        leader.kill()
        await until(lambda: _holder_is(kube, standby), "standby took the lease", 30)
        await until(lambda: _contains(standby, "controller started"), "standby started its controllers")
        await kube.create(DEPLOYMENT, workload("Deployment", "two", namespace, 1))
        await until(lambda: _ready_count(kube, namespace, "two-", 1), "new leader reconciles")
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.running():
                assert proc.terminate() == 0


async def _contains(proc: Process, text: str) -> bool:
    return text in proc.output()


async def _holder_is(kube: KubeClient, proc: Process) -> bool:
    return (await holder(kube)).startswith(identity_of(proc))


async def _ready_count(kube: KubeClient, namespace: str, prefix: str, count: int) -> bool:
    pods = await pods_of(kube, namespace, prefix)
    return len(pods) == count and all(is_ready(p) for p in pods)


async def test_an_informer_catches_up_after_the_api_server_restarts(tmp_path: Path) -> None:
    from kubernetes_asyncio import config

    server = Cluster(tmp_path / "local")
    server.data_dir.mkdir(parents=True)
    server.start_apiserver()
    api = await config.new_client_from_config(config_file=str(server.kubeconfig))
    kube = KubeClient(api)
    informer = Informer(kube, CONFIG_MAP, "default", backoff_base=0.1)
    seen: list[tuple[str | None, str | None]] = []
    informer.add_handler(
        lambda old, new: seen.append(
            (old["metadata"]["name"] if old else None, new["metadata"]["name"] if new else None)
        )
    )
    task = asyncio.create_task(informer.run())
    try:
        await kube.create(CONFIG_MAP, {"metadata": {"name": "before", "namespace": "default"}})
        await asyncio.wait_for(informer.synced.wait(), 10)
        await until(lambda: _cached(informer, "default/before"), "cached before restart", 10)

        assert server.apiserver is not None
        assert server.apiserver.terminate() == 0
        server.start_apiserver()
        await kube.delete(CONFIG_MAP, "default", "before")
        await kube.create(CONFIG_MAP, {"metadata": {"name": "after", "namespace": "default"}})

        await until(lambda: _cached(informer, "default/after"), "object created after the restart", 20)
        await until(lambda: _not_cached(informer, "default/before"), "object deleted after the restart", 20)
        assert ("before", None) in seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()
        if server.apiserver is not None:
            server.apiserver.terminate()


async def _cached(informer: Informer, key: str) -> bool:
    return informer.get(key) is not None


async def _not_cached(informer: Informer, key: str) -> bool:
    return informer.get(key) is None


async def test_an_informer_relists_when_its_resource_version_has_expired(tmp_path: Path) -> None:
    from kubernetes_asyncio import config

    server = Cluster(tmp_path / "local")
    server.data_dir.mkdir(parents=True)
    server.start_apiserver("--watch-window", "2")
    api = await config.new_client_from_config(config_file=str(server.kubeconfig))
    kube = KubeClient(api)
    informer = Informer(kube, CONFIG_MAP, "default", watch_timeout=1)
    task = asyncio.create_task(informer.run())
    try:
        await kube.create(CONFIG_MAP, {"metadata": {"name": "mine", "namespace": "default"}})
        await until(lambda: _cached(informer, "default/mine"), "cached", 10)
        assert informer.lists == 1
        # Writes this informer does not see push its resourceVersion out of the server's 2-event window;
        # its next watch (the server ends each after 1 s) gets 410 Gone and it lists again.
        for i in range(5):
            await kube.create(NAMESPACE, {"metadata": {"name": f"other-{i}"}})
        await until(lambda: _listed_twice(informer), "relist after 410", 15)
        await kube.create(CONFIG_MAP, {"metadata": {"name": "later", "namespace": "default"}})
        await until(lambda: _cached(informer, "default/later"), "watching again after the relist", 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()
        if server.apiserver is not None:
            server.apiserver.terminate()


NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)


async def _listed_twice(informer: Informer) -> bool:
    return informer.lists >= 2
