"""Object semantics through kubernetes_asyncio: conflicts, finalizers, generation, selectors, paging,
garbage collection and graceful pod deletion."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from .harness import VERTEX_CRD, ServerProcess, kubectl

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

GROUP, VERSION, PLURAL = "numaflow.numaproj.io", "v1alpha1", "vertices"
# kubernetes_asyncio sends dict patches for custom objects as JSON patch unless told otherwise.
MERGE = "application/merge-patch+json"


def vertex(name: str, replicas: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Vertex",
        "metadata": {"name": name, **meta},
        "spec": {"pipelineName": "p", "replicas": replicas},
    }


def cm(name: str, labels: dict[str, str] | None = None, **meta: Any) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels, **meta), data={"k": "v"})


async def eventually(check: Any, limit: float = 15.0) -> Any:
    """Poll an async check until it returns a truthy value."""

    async def loop() -> Any:
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(loop(), limit)


async def gone(read: Any) -> bool:
    try:
        await read()
    except ApiException as err:
        return err.status == 404
    return False


@pytest.fixture(scope="module", autouse=True)
def _crd(server: ServerProcess) -> None:
    kubectl(server, "apply", "-f", str(VERTEX_CRD))


async def test_a_stale_update_gets_409_conflict(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    created = await core.create_namespaced_config_map("default", cm("stale"))
    first = await core.read_namespaced_config_map("stale", "default")
    first.data = {"k": "v2"}
    await core.replace_namespaced_config_map("stale", "default", first)
    created.data = {"k": "v3"}
    with pytest.raises(ApiException) as err:
        await core.replace_namespaced_config_map("stale", "default", created)
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Conflict"
    assert (await core.read_namespaced_config_map("stale", "default")).data == {"k": "v2"}


async def test_create_of_an_existing_name_gets_409_already_exists(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", cm("twice"))
    with pytest.raises(ApiException) as err:
        await core.create_namespaced_config_map("default", cm("twice"))
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "AlreadyExists"


async def test_missing_object_gets_404_status(api_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as err:
        await client.CoreV1Api(api_client).read_namespaced_config_map("nope", "default")
    body = json.loads(err.value.body)
    assert err.value.status == 404
    assert body["reason"] == "NotFound" and body["details"] == {"name": "nope", "kind": "configmaps"}


async def test_generate_name_creates_a_unique_name(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
    a = await core.create_namespaced_config_map("default", body)
    b = await core.create_namespaced_config_map("default", body)
    assert a.metadata.name.startswith("gen-") and len(a.metadata.name) == 9
    assert a.metadata.name != b.metadata.name


async def test_finalizer_holds_deletion_until_removed(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", cm("held", finalizers=["example.com/hold"]))
    await core.delete_namespaced_config_map("held", "default")
    held = await core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    await core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    assert await gone(lambda: core.read_namespaced_config_map("held", "default"))


async def test_generation_bumps_only_on_spec_changes(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    await custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, vertex("gen"))
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "gen", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    await custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "gen", {"status": {"phase": "Running"}}, _content_type=MERGE
    )
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "gen")
    assert obj["metadata"]["generation"] == 1
    assert obj["status"]["phase"] == "Running"
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "gen", {"spec": {"replicas": 4}}, _content_type=MERGE
    )
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "gen")
    assert obj["metadata"]["generation"] == 2


async def test_status_and_main_resource_ignore_each_others_fields(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    await custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, vertex("split"))
    both = {"spec": {"replicas": 9}, "status": {"phase": "Paused"}}
    await custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "split", both, _content_type=MERGE
    )
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "split")
    assert obj["spec"]["replicas"] == 1 and obj["status"]["phase"] == "Paused"
    both = {"spec": {"replicas": 7}, "status": {"phase": "Failed"}}
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "split", both, _content_type=MERGE
    )
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "split")
    assert obj["spec"]["replicas"] == 7 and obj["status"]["phase"] == "Paused"


async def test_scale_subresource_maps_replicas_and_selector(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    await custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, vertex("sc", replicas=2))
    status = {"status": {"replicas": 2, "selector": "app=sc"}}
    await custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "sc", status, _content_type=MERGE
    )
    scale = await custom.get_namespaced_custom_object_scale(GROUP, VERSION, "default", PLURAL, "sc")
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=sc"}
    await custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, "default", PLURAL, "sc", {"spec": {"replicas": 6}}, _content_type=MERGE
    )
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "sc")
    assert obj["spec"]["replicas"] == 6


async def test_schema_violations_get_422_with_causes(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    bad = vertex("bad")
    bad["spec"]["replicas"] = -1
    bad["spec"]["lifecycle"] = {"desiredPhase": "Sleeping"}
    with pytest.raises(ApiException) as err:
        await custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, bad)
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    fields = sorted(c["field"] for c in body["details"]["causes"])
    assert fields == ["spec.lifecycle.desiredPhase", "spec.replicas"]


async def test_label_and_field_selectors_filter_lists(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="sel")))
    await core.create_namespaced_config_map("sel", cm("a", {"tier": "web", "env": "prod"}))
    await core.create_namespaced_config_map("sel", cm("b", {"tier": "db", "env": "prod"}))
    await core.create_namespaced_config_map("sel", cm("c", {"tier": "web"}))

    async def names(**kwargs: Any) -> list[str]:
        result = await core.list_namespaced_config_map("sel", **kwargs)
        return [i.metadata.name for i in result.items]

    assert await names(label_selector="tier=web") == ["a", "c"]
    assert await names(label_selector="tier!=web") == ["b"]
    assert await names(label_selector="tier in (web,db),env") == ["a", "b"]
    assert await names(label_selector="!env") == ["c"]
    assert await names(label_selector="tier notin (web)") == ["b"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.name!=b", label_selector="env==prod") == ["a"]
    with pytest.raises(ApiException) as err:
        await names(field_selector="data.k=v")
    assert err.value.status == 400


async def test_pod_field_selectors_on_node_name_and_phase(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    for name, node in (("fs-a", "node-1"), ("fs-b", None)):
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="c", image="busybox")]),
        )
        await core.create_namespaced_pod("default", pod)
    await core.patch_namespaced_pod_status("fs-a", "default", {"status": {"phase": "Running"}})
    on_node = await core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-1")
    assert [p.metadata.name for p in on_node.items] == ["fs-a"]
    running = await core.list_namespaced_pod("default", field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["fs-a"]
    unscheduled = await core.list_namespaced_pod(
        "default", field_selector="spec.nodeName=,metadata.name=fs-b"
    )
    assert [p.metadata.name for p in unscheduled.items] == ["fs-b"]


async def test_limit_and_continue_page_through_a_list(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pages")))
    for i in range(7):
        await core.create_namespaced_config_map("pages", cm(f"cm-{i}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = await core.list_namespaced_config_map("pages", limit=3, _continue=token)
        seen += [i.metadata.name for i in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert seen == [f"cm-{i}" for i in range(7)] and pages == 3


async def test_deleting_an_owner_collects_its_children_in_the_background(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map("default", cm("owner-bg"))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner-bg", uid=owner.metadata.uid)
    await core.create_namespaced_config_map("default", cm("child-bg", owner_references=[ref]))
    await core.delete_namespaced_config_map("owner-bg", "default", propagation_policy="Background")
    assert await eventually(lambda: gone(lambda: core.read_namespaced_config_map("child-bg", "default")))


async def test_foreground_deletion_waits_for_blocking_children(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    owner = await custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, vertex("owner-fg")
    )
    ref = client.V1OwnerReference(
        api_version=f"{GROUP}/{VERSION}",
        kind="Vertex",
        name="owner-fg",
        uid=owner["metadata"]["uid"],
        block_owner_deletion=True,
    )
    await core.create_namespaced_config_map(
        "default", cm("child-fg", owner_references=[ref], finalizers=["example.com/slow"])
    )
    await custom.delete_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "owner-fg", propagation_policy="Foreground"
    )

    async def child_deleting() -> bool:
        child = await core.read_namespaced_config_map("child-fg", "default")
        return child.metadata.deletion_timestamp is not None

    await eventually(child_deleting)
    waiting = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner-fg")
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]
    await core.patch_namespaced_config_map("child-fg", "default", {"metadata": {"finalizers": None}})
    assert await eventually(
        lambda: gone(
            lambda: custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "owner-fg")
        )
    )


async def test_orphan_deletion_keeps_children_without_the_owner_reference(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    owner = await core.create_namespaced_config_map("default", cm("owner-or"))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner-or", uid=owner.metadata.uid)
    await core.create_namespaced_config_map("default", cm("child-or", owner_references=[ref]))
    await core.delete_namespaced_config_map("owner-or", "default", propagation_policy="Orphan")
    assert await eventually(lambda: gone(lambda: core.read_namespaced_config_map("owner-or", "default")))
    child = await core.read_namespaced_config_map("child-or", "default")
    assert not child.metadata.owner_references


async def test_a_pod_on_a_node_is_deleted_gracefully(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="graceful"),
        spec=client.V1PodSpec(
            containers=[client.V1Container(name="c", image="busybox")], termination_grace_period_seconds=20
        ),
    )
    await core.create_namespaced_pod("default", pod)
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name="graceful"),
        target=client.V1ObjectReference(kind="Node", name="node-1"),
    )
    # The server answers a binding with a Status (as Kubernetes does), which the generated model cannot
    # deserialize into a V1Binding; read the raw response instead.
    response = await core.create_namespaced_pod_binding(
        "graceful", "default", binding, _preload_content=False
    )
    assert response.status == 201
    await core.delete_namespaced_pod("graceful", "default")
    terminating = await core.read_namespaced_pod("graceful", "default")
    assert terminating.metadata.deletion_grace_period_seconds == 20
    assert terminating.spec.node_name == "node-1"
    await core.delete_namespaced_pod("graceful", "default", grace_period_seconds=0)
    assert await gone(lambda: core.read_namespaced_pod("graceful", "default"))


async def test_watch_with_a_label_selector_reports_objects_entering_and_leaving(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    listed = await core.list_namespaced_config_map("default", label_selector="watched=yes")
    events: list[tuple[str, str]] = []

    async def collect() -> None:
        from kubernetes_asyncio import watch

        async with watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            label_selector="watched=yes",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
        ) as stream:
            async for event in stream:
                events.append((event["type"], event["object"].metadata.name))
                if len(events) == 3:
                    return

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.3)
    await core.create_namespaced_config_map("default", cm("w-in", {"watched": "yes"}))
    await core.patch_namespaced_config_map("w-in", "default", {"data": {"k": "2"}})
    await core.patch_namespaced_config_map("w-in", "default", {"metadata": {"labels": {"watched": "no"}}})
    await asyncio.wait_for(task, 15)
    assert events == [("ADDED", "w-in"), ("MODIFIED", "w-in"), ("DELETED", "w-in")]
