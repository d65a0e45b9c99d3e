"""The server embedded in a running event loop (as other components' tests may use it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from numaflux.apiserver import logs
from numaflux.apiserver.server import read_state, ready, serve

pytestmark = pytest.mark.timeout(60)


@pytest.mark.asyncio(loop_scope="session")
async def test_serve_in_process_reports_its_port_and_serves_kubernetes_asyncio(tmp_path: Path) -> None:
    server = await serve(tmp_path / "cluster", port=0)
    try:
        assert server.port > 0 and server.url == f"https://127.0.0.1:{server.port}"
        state = read_state(tmp_path / "cluster")
        assert state is not None and state["port"] == server.port
        assert await asyncio.to_thread(ready, tmp_path / "cluster")
        api = await config.new_client_from_config(config_file=str(server.kubeconfig))
        try:
            core = client.CoreV1Api(api)
            node = client.V1Node(metadata=client.V1ObjectMeta(name="local-node"))
            await core.create_node(node)
            await core.patch_node_status(
                "local-node", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
            )
            nodes = await core.list_node()
            assert [n.metadata.name for n in nodes.items] == ["local-node"]
            assert nodes.items[0].status.conditions[0].type == "Ready"
            names = sorted(n.metadata.name for n in (await core.list_namespace()).items)
            assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
        finally:
            await api.close()
    finally:
        await server.stop()
    assert read_state(tmp_path / "cluster") is None
    assert not ready(tmp_path / "cluster")


def test_pod_logs_live_where_the_kubelet_writes_them(tmp_path: Path) -> None:
    from numaflux.kubelet import paths

    assert logs.log_path(tmp_path, "ns", "pod", "main") == paths.container_log_path(
        tmp_path, "ns", "pod", "main"
    )
    assert logs.log_path(tmp_path, "ns", "pod", "main", previous=True) == paths.previous_container_log_path(
        tmp_path, "ns", "pod", "main"
    )


def test_serve_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        asyncio.run(serve(tmp_path, host="0.0.0.0"))


@pytest.mark.asyncio(loop_scope="session")
async def test_a_second_server_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = await serve(tmp_path / "cluster")
    try:
        with pytest.raises(RuntimeError, match="another API server"):
            await serve(tmp_path / "cluster")
    finally:
        await first.stop()
    second = await serve(tmp_path / "cluster")
    await second.stop()
