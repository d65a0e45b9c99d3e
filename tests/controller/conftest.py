"""One API server + kubelet for the controller integration tests; a controller manager per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from kubernetes_asyncio import config

from numaflux.controller.kube import KubeClient

from .cluster import Cluster, Process, wait_for


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    local = Cluster(tmp_path_factory.mktemp("controller") / "local")
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def manager(cluster: Cluster) -> Iterator[Process]:
    """A leading controller manager; stopped with SIGTERM, which must exit 0 and remove the ready file."""
    cluster.ready_file.unlink(missing_ok=True)
    proc = cluster.controller()
    try:
        wait_for(cluster.ready_file.exists, "controller ready")
        yield proc
    finally:
        if proc.running():
            assert proc.terminate() == 0, proc.output()[-3000:]
            assert not cluster.ready_file.exists()


@pytest_asyncio.fixture(loop_scope="function")
async def kube(cluster: Cluster) -> AsyncIterator[KubeClient]:
    api = await config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield KubeClient(api)
    finally:
        await api.close()


@pytest_asyncio.fixture(loop_scope="function")
async def namespace(kube: KubeClient) -> str:
    """A fresh namespace for the test's objects."""
    from numaflux.controller.kube import Kind

    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.create(
        Kind("", "v1", "namespaces", "Namespace", namespaced=False), {"metadata": {"name": name}}
    )
    return name
