"""Persistence across API server restarts (stop + start on the same directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from .harness import VERTEX_CRD, ServerProcess, kubectl, new_client

pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="session")]


def cm(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": name})


async def watch_names(core: client.CoreV1Api, rv: str, count: int) -> list[tuple[str, str, str]]:
    """The first `count` events of a configmap watch from rv: (type, name, resourceVersion)."""
    seen: list[tuple[str, str, str]] = []
    async with watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=10
    ) as stream:
        async for event in stream:
            obj = event["object"]
            seen.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
            if len(seen) == count:
                break
    return seen


async def test_list_and_watch_resume_from_a_resource_version_after_a_restart(
    fresh_server: ServerProcess,
) -> None:
    api = await new_client(fresh_server)
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_config_map("default")
    await core.create_namespaced_config_map("default", cm("before"))
    events = await asyncio.wait_for(watch_names(core, listed.metadata.resource_version, 1), 20)
    assert [e[:2] for e in events] == [("ADDED", "before")]
    last_seen = events[-1][2]
    await api.close()

    port = fresh_server.port
    fresh_server.stop()
    fresh_server.start()
    assert fresh_server.port == port  # clients holding the old kubeconfig keep working

    api = await new_client(fresh_server)
    core = client.CoreV1Api(api)
    await core.create_namespaced_config_map("default", cm("after"))
    await core.delete_namespaced_config_map("before", "default")
    resumed = await asyncio.wait_for(watch_names(core, last_seen, 2), 20)
    assert [e[:2] for e in resumed] == [("ADDED", "after"), ("DELETED", "before")]
    assert int(last_seen) < int(resumed[0][2]) < int(resumed[1][2])
    relisted = await core.list_namespaced_config_map("default")
    assert [i.metadata.name for i in relisted.items] == ["after"]
    await api.close()


async def test_objects_and_crds_survive_a_restart_and_resource_versions_keep_growing(
    fresh_server: ServerProcess,
) -> None:
    kubectl(fresh_server, "apply", "-f", str(VERTEX_CRD))
    api = await new_client(fresh_server)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    body: dict[str, Any] = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Vertex",
        "metadata": {"name": "kept"},
        "spec": {"pipelineName": "p", "replicas": 3},
    }
    vertex = await custom.create_namespaced_custom_object(
        "numaflow.numaproj.io", "v1alpha1", "default", "vertices", body
    )
    config = await core.create_namespaced_config_map("default", cm("kept"))
    await core.create_namespaced_config_map("default", cm("dropped"))
    await core.delete_namespaced_config_map("dropped", "default")
    rv_before = int((await core.list_namespaced_config_map("default")).metadata.resource_version)
    await api.close()

    fresh_server.stop()
    fresh_server.start()

    api = await new_client(fresh_server)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    again = await custom.get_namespaced_custom_object(
        "numaflow.numaproj.io", "v1alpha1", "default", "vertices", "kept"
    )
    assert again["metadata"]["uid"] == vertex["metadata"]["uid"]
    assert again["metadata"]["resourceVersion"] == vertex["metadata"]["resourceVersion"]
    assert again["spec"]["replicas"] == 3
    assert (await core.read_namespaced_config_map("kept", "default")).metadata.uid == config.metadata.uid
    with pytest.raises(ApiException):
        await core.read_namespaced_config_map("dropped", "default")
    created = await core.create_namespaced_config_map("default", cm("new"))
    assert int(created.metadata.resource_version) == rv_before + 1
    await api.close()
    assert "kept" in kubectl(fresh_server, "get", "vtx")


async def test_a_watch_from_a_compacted_resource_version_gets_410_gone(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--watch-window", "5").start()
    try:
        api = await new_client(server)
        core = client.CoreV1Api(api)
        first = await core.list_namespaced_config_map("default")
        for i in range(10):
            await core.create_namespaced_config_map("default", cm(f"c{i}"))
        with pytest.raises(ApiException) as err:
            await asyncio.wait_for(watch_names(core, first.metadata.resource_version, 1), 20)
        assert err.value.status == 410
        page = await core.list_namespaced_config_map("default", limit=2)
        for i in range(10, 20):
            await core.create_namespaced_config_map("default", cm(f"c{i}"))
        with pytest.raises(ApiException) as err:
            await core.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
        assert err.value.status == 410
        await api.close()
    finally:
        server.stop()
