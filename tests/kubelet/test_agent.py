"""The kubelet agent against the real local API server: binding, status, restarts, graceful deletion,
and a kubelet crash that pods survive."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from .cluster import NODE, LocalCluster
from .helpers import POD_IP_ENV, PY, SERVE_HTTP, alive, eventually, eventually_async

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture(loop_scope="function")
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    local = LocalCluster(tmp_path / "local")
    try:
        await local.start_apiserver()
        await local.start_kubelet()
        yield local
    finally:
        await local.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def core(cluster: LocalCluster) -> AsyncIterator[client.CoreV1Api]:
    api = await cluster.client()
    try:
        yield client.CoreV1Api(api)
    finally:
        await api.close()


CONFIG_MAP = {"metadata": {"name": "cfg"}, "data": {"greeting": "hi"}}


def web_pod(name: str, **spec: Any) -> dict[str, Any]:
    env = [
        POD_IP_ENV,
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
    ]
    code = "import os; print(os.environ['GREETING'], flush=True)\n" + SERVE_HTTP
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": [PY, "-u", "-c", code],
        "env": env,
        "readinessProbe": {"httpGet": {"path": "/", "port": 2469}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


async def pod_state(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    pod = await core.read_namespaced_pod(name, "default")
    return dict(client.ApiClient().sanitize_for_serialization(pod))


async def wait_ready(core: client.CoreV1Api, name: str) -> dict[str, Any]:
    async def ready() -> dict[str, Any]:
        while True:
            pod = await pod_state(core, name)
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
            if conditions.get("Ready") == "True":
                return pod
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(ready(), 30)


def container_pid(pod: dict[str, Any]) -> int:
    return int(pod["status"]["containerStatuses"][0]["containerID"].removeprefix("numaflux://"))


async def gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        await core.read_namespaced_pod(name, "default")
    except ApiException as error:
        return error.status == 404
    return False


async def test_the_agent_binds_runs_and_reports_a_pod_and_deletes_it_gracefully(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg"}, "data": {"greeting": "hi"}}
    )
    await core.create_namespaced_pod("default", web_pod("web", terminationGracePeriodSeconds=5))
    pod = await wait_ready(core, "web")
    assert pod["spec"]["nodeName"] == NODE
    status = pod["status"]
    assert status["phase"] == "Running" and status["podIP"].startswith("127.")
    assert status["containerStatuses"][0]["ready"] is True
    node = await core.read_node(NODE)
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    log = await core.read_namespaced_pod_log("web", "default")
    assert log.startswith("hi\n")

    pid = container_pid(pod)
    os.kill(pid, signal.SIGKILL)

    async def restarted() -> dict[str, Any] | None:
        pod = await pod_state(core, "web")
        first = pod["status"]["containerStatuses"][0]
        return pod if first["restartCount"] == 1 and first["ready"] else None

    pod = await eventually_async(restarted)
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137

    new_pid = container_pid(pod)
    await core.delete_namespaced_pod("web", "default", grace_period_seconds=5)

    await eventually_async(lambda: gone(core, "web"), within=20)
    assert not alive(new_pid)


async def test_pods_survive_a_kubelet_crash_and_a_pod_deleted_meanwhile_is_stopped(
    cluster: LocalCluster, core: client.CoreV1Api
) -> None:
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg"}, "data": {"greeting": "hi"}}
    )
    await core.create_namespaced_pod("default", web_pod("keeper"))
    await core.create_namespaced_pod("default", web_pod("goner", terminationGracePeriodSeconds=2))
    keeper = container_pid(await wait_ready(core, "keeper"))
    goner = container_pid(await wait_ready(core, "goner"))
    await cluster.kill_kubelet()
    await core.delete_namespaced_pod("goner", "default")
    await cluster.start_kubelet()

    await eventually_async(lambda: gone(core, "goner"))
    await eventually(lambda: not alive(goner))
    pod = await wait_ready(core, "keeper")
    assert container_pid(pod) == keeper and alive(keeper)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
