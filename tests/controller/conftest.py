"""One API server + kubelet for the controller integration tests; a controller manager per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from kubernetes_asyncio import config

from numaflux.controller.kube import KubeClient

from .cluster import Cluster, Process, leading_manager


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    local = Cluster(tmp_path_factory.mktemp("controller") / "local")
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def manager(cluster: Cluster) -> Iterator[Process]:
    """A leading controller manager for the test (see `leading_manager`)."""
    with leading_manager(cluster) as proc:
        yield proc


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
