"""Cross-kind behaviour: namespaces and CRDs cleaned up on deletion, event API versions sharing storage,
server-side apply, watch bookmarks and initial events, pod logs parameters, dry runs."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from .harness import VERTEX_CRD, ServerProcess, kubectl

pytestmark = pytest.mark.timeout(60)
session_loop = pytest.mark.asyncio(loop_scope="session")


class Raw:
    """Plain HTTPS requests with the kubeconfig token."""

    def __init__(self, server: ServerProcess) -> None:
        config = yaml.safe_load(server.kubeconfig.read_text())
        self.base = config["clusters"][0]["cluster"]["server"]
        self.headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}"}
        self.ssl = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        headers = {**self.headers, "Content-Type": content_type}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, data=data, headers=headers, ssl=self.ssl) as response,
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def watch_lines(self, path: str, count: int) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base + path, headers=self.headers, ssl=self.ssl) as response,
        ):
            async for line in response.content:
                lines.append(json.loads(line))
                if len(lines) == count:
                    break
        return lines


async def wait_gone(raw: Raw, path: str) -> None:
    for _ in range(300):
        if (await raw.request("GET", path))[0] == 404:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still exists")


@session_loop
async def test_deleting_a_namespace_deletes_its_contents_first(server: ServerProcess) -> None:
    raw = Raw(server)
    assert (await raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}}))[0] == 201
    sa = await raw.request("GET", "/api/v1/namespaces/doomed/serviceaccounts/default")
    assert sa[0] == 200  # every namespace gets a default service account
    await raw.request(
        "POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "c", "finalizers": ["x/y"]}}
    )
    status, ns = await raw.request("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200 and ns["status"]["phase"] == "Terminating"
    status, refused = await raw.request(
        "POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "late"}}
    )
    assert status == 403 and refused["reason"] == "Forbidden"
    await asyncio.sleep(0.5)
    assert (await raw.request("GET", "/api/v1/namespaces/doomed"))[
        0
    ] == 200  # held by the configmap's finalizer
    await raw.request(
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/c",
        {"metadata": {"finalizers": None}},
        "application/merge-patch+json",
    )
    await wait_gone(raw, "/api/v1/namespaces/doomed")


@session_loop
async def test_deleting_a_crd_removes_its_objects_and_its_discovery(server: ServerProcess) -> None:
    raw = Raw(server)
    kubectl(server, "apply", "-f", str(VERTEX_CRD))
    vertex = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Vertex",
        "metadata": {"name": "v"},
        "spec": {"pipelineName": "p"},
    }
    assert (
        await raw.request("POST", "/apis/numaflow.numaproj.io/v1alpha1/namespaces/default/vertices", vertex)
    )[0] == 201
    await raw.request(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/vertices.numaflow.numaproj.io"
    )
    await wait_gone(
        raw, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/vertices.numaflow.numaproj.io"
    )
    assert (await raw.request("GET", "/apis/numaflow.numaproj.io/v1alpha1"))[0] == 404
    kubectl(server, "apply", "-f", str(VERTEX_CRD))
    status, listed = await raw.request("GET", "/apis/numaflow.numaproj.io/v1alpha1/vertices")
    assert status == 200 and listed["items"] == []


@session_loop
async def test_events_written_in_one_api_version_are_read_in_the_other(api_client: client.ApiClient) -> None:
    events = client.EventsV1Api(api_client)
    body = client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="ev1"),
        event_time="2026-01-01T00:00:00.000000Z",
        reason="Scaled",
        note="scaled to 3",
        type="Normal",
        action="Scale",
        reporting_controller="numaflux/vertex",
        reporting_instance="ctrl-1",
        regarding=client.V1ObjectReference(kind="Vertex", name="cat", namespace="default"),
    )
    await events.create_namespaced_event("default", body)
    core = client.CoreV1Api(api_client)
    core_event = await core.read_namespaced_event("ev1", "default")
    assert core_event.message == "scaled to 3" and core_event.involved_object.name == "cat"
    assert core_event.reporting_component == "numaflux/vertex"
    selected = await core.list_namespaced_event(
        "default", field_selector="involvedObject.name=cat,reason=Scaled"
    )
    assert [e.metadata.name for e in selected.items] == ["ev1"]


@session_loop
async def test_server_side_apply_creates_merges_and_records_the_manager(server: ServerProcess) -> None:
    raw = Raw(server)
    path = "/api/v1/namespaces/default/configmaps/ssa?fieldManager=ctrl"
    applied = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  labels: {a: '1'}\n"
        "data:\n  x: '1'\n  y: '2'\n"
    )
    status, created = await raw.request("PATCH", path, applied, "application/apply-patch+yaml")
    assert status == 201 and created["data"] == {"x": "1", "y": "2"}
    await raw.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/ssa",
        {"data": {"z": "3"}},
        "application/merge-patch+json",
    )
    status, updated = await raw.request(
        "PATCH", path, applied.replace("  y: '2'\n", ""), "application/apply-patch+yaml"
    )
    assert status == 200
    assert updated["data"] == {"x": "1", "z": "3"}  # y was ours and is gone; z belongs to someone else
    managers = [m["manager"] for m in updated["metadata"]["managedFields"] if m["operation"] == "Apply"]
    assert managers == ["ctrl"]
    status, _ = await raw.request(
        "PATCH", "/api/v1/namespaces/default/configmaps/ssa", applied, "application/apply-patch+yaml"
    )
    assert status == 400  # fieldManager is required


@session_loop
async def test_watch_sends_initial_events_then_a_bookmark_marking_their_end(server: ServerProcess) -> None:
    raw = Raw(server)
    for name in ("i1", "i2"):
        await raw.request(
            "POST", "/api/v1/namespaces/default/secrets", {"metadata": {"name": name, "labels": {"w": "i"}}}
        )
    lines = await asyncio.wait_for(
        raw.watch_lines(
            "/api/v1/namespaces/default/secrets?watch=1&labelSelector=w%3Di&sendInitialEvents=true"
            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            3,
        ),
        15,
    )
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in lines[:2]] == [
        ("ADDED", "i1"),
        ("ADDED", "i2"),
    ]
    assert lines[2]["type"] == "BOOKMARK"
    assert lines[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


@session_loop
async def test_watch_as_table_sends_rows(server: ServerProcess) -> None:
    raw = Raw(server)
    await raw.request(
        "POST",
        "/api/v1/namespaces/default/services",
        {"metadata": {"name": "tbl"}, "spec": {"ports": [{"port": 80}]}},
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            raw.base + "/api/v1/namespaces/default/services?watch=1&fieldSelector=metadata.name%3Dtbl",
            headers={**raw.headers, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
            ssl=raw.ssl,
        ) as response,
    ):
        event = json.loads(await asyncio.wait_for(response.content.readline(), 10))
    table = event["object"]
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Type", "Cluster-IP"]
    assert table["rows"][0]["cells"][0] == "tbl" and table["rows"][0]["cells"][2].startswith("10.96.")


@session_loop
async def test_pod_logs_need_a_container_name_when_there_are_several(server: ServerProcess) -> None:
    raw = Raw(server)
    pod = {
        "metadata": {"name": "two"},
        "spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]},
    }
    await raw.request("POST", "/api/v1/namespaces/default/pods", pod)
    status, body = await raw.request("GET", "/api/v1/namespaces/default/pods/two/log")
    assert status == 400 and "choose one of: [a b]" in body["message"]
    status, body = await raw.request("GET", "/api/v1/namespaces/default/pods/two/log?container=b")
    assert status == 400 and "is waiting to start: ContainerCreating" in body["message"]
    log_dir = server.data_dir / "pods" / "default" / "two"
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "b.log").write_text("1\n2\n3\n")
    (log_dir / "b.log.1").write_text("old\n")
    assert await raw.request("GET", "/api/v1/namespaces/default/pods/two/log?container=b&tailLines=2") == (
        200,
        "2\n3\n",
    )
    assert await raw.request("GET", "/api/v1/namespaces/default/pods/two/log?container=b&limitBytes=3") == (
        200,
        "1\n2",
    )
    assert await raw.request("GET", "/api/v1/namespaces/default/pods/two/log?container=b&previous=true") == (
        200,
        "old\n",
    )


@session_loop
async def test_dry_run_and_delete_collection(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dry", labels={"batch": "x"}))
    result = await core.create_namespaced_config_map("default", body, dry_run="All")
    assert result.metadata.uid
    with pytest.raises(ApiException):
        await core.read_namespaced_config_map("dry", "default")
    for i in range(3):
        await core.create_namespaced_config_map(
            "default",
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"batch-{i}", labels={"batch": "x"})),
        )
    await core.delete_collection_namespaced_config_map("default", label_selector="batch=x")
    left = await core.list_namespaced_config_map("default", label_selector="batch=x")
    assert left.items == []


@session_loop
async def test_pod_spec_is_immutable_except_images(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="immut"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="a:1")]),
    )
    await core.create_namespaced_pod("default", pod)
    await core.patch_namespaced_pod(
        "immut", "default", {"spec": {"containers": [{"name": "c", "image": "a:2"}]}}
    )
    with pytest.raises(ApiException) as err:
        await core.patch_namespaced_pod(
            "immut", "default", {"spec": {"containers": [{"name": "c", "command": ["x"]}]}}
        )
    assert err.value.status == 422
    current = await core.read_namespaced_pod("immut", "default")
    assert current.spec.containers[0].image == "a:2" and current.metadata.generation == 2


@session_loop
async def test_a_watch_from_a_resource_version_never_handed_out_ends_with_an_error(
    server: ServerProcess,
) -> None:
    raw = Raw(server)
    lines = await asyncio.wait_for(
        raw.watch_lines("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=999999999", 1), 10
    )
    assert lines[0]["type"] == "ERROR"
    assert lines[0]["object"]["code"] == 504 and "Too large resource version" in lines[0]["object"]["message"]


@session_loop
async def test_aggregated_discovery_lists_resources_with_subresources(server: ServerProcess) -> None:
    raw = Raw(server)
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with (
        aiohttp.ClientSession() as session,
        session.get(raw.base + "/apis", headers={**raw.headers, "Accept": accept}, ssl=raw.ssl) as response,
    ):
        assert response.headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
        body = await response.json(content_type=None)
    apps = next(item for item in body["items"] if item["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


@session_loop
async def test_container_names_must_be_dns_labels(server: ServerProcess) -> None:
    raw = Raw(server)
    pod = {"metadata": {"name": "evil"}, "spec": {"containers": [{"name": "../../x", "image": "i"}]}}
    status, body = await raw.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.containers[0].name"


@session_loop
async def test_legacy_watch_path_follows_one_object_and_json_patch_edits_it(server: ServerProcess) -> None:
    raw = Raw(server)
    status, created = await raw.request(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "legacy"}, "data": {"a": "1"}}
    )
    assert status == 201
    rv = created["metadata"]["resourceVersion"]
    watcher = asyncio.create_task(
        raw.watch_lines(f"/api/v1/watch/namespaces/default/configmaps/legacy?resourceVersion={rv}", 1)
    )
    await asyncio.sleep(0.2)
    ops = [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    status, patched = await raw.request(
        "PATCH", "/api/v1/namespaces/default/configmaps/legacy", ops, "application/json-patch+json"
    )
    assert status == 200 and patched["data"] == {"b": "2"}
    event = (await asyncio.wait_for(watcher, 10))[0]
    assert event["type"] == "MODIFIED" and event["object"]["data"] == {"b": "2"}


TWO_VERSIONS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties: {spec: {type: object, properties: {size: {type: integer}}}}
    - name: v2
      served: true
      storage: false
      schema:
        openAPIV3Schema:
          type: object
          properties: {spec: {type: object, properties: {size: {type: integer, maximum: 10}}}}
"""


@session_loop
async def test_a_crd_serves_each_version_with_its_own_schema_over_shared_storage(
    server: ServerProcess,
) -> None:
    raw = Raw(server)
    kubectl(server, "apply", "-f", "-", stdin=TWO_VERSIONS)
    status, group = await raw.request("GET", "/apis/example.com")
    assert status == 200 and group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v2"]
    widget = {
        "apiVersion": "example.com/v2",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 11},
    }
    status, body = await raw.request("POST", "/apis/example.com/v2/widgets", widget)
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.size"
    widget["spec"]["size"] = 5
    assert (await raw.request("POST", "/apis/example.com/v2/widgets", widget))[0] == 201
    status, as_v1 = await raw.request("GET", "/apis/example.com/v1/widgets/w")
    assert status == 200 and as_v1["apiVersion"] == "example.com/v1" and as_v1["spec"] == {"size": 5}
