"""The manager in-process in Kubernetes mode: ISB service children for a real cluster, Service-DNS URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio import config

from numaflux.controller import ControllerConfig, Manager, Mode
from numaflux.controller.crds import ensure_crds
from numaflux.controller.kube import CONFIG_MAP, ISB_SERVICE, SERVICE, STATEFUL_SET, KubeClient

from .cluster import Cluster
from .helpers import until

pytestmark = pytest.mark.timeout(60)


async def test_kubernetes_mode_renders_statefulset_service_and_config_and_reports_the_service_url(
    tmp_path: Path,
) -> None:
    server = Cluster(tmp_path / "local")
    server.data_dir.mkdir(parents=True)
    server.start_apiserver()
    api = await config.new_client_from_config(config_file=str(server.kubeconfig))
    kube = KubeClient(api)
    stop = asyncio.Event()
    try:
        await ensure_crds(kube)
        manager = Manager(kube, ControllerConfig(mode=Mode.KUBERNETES, leader_elect=False))
        # Only the ISB controller: in Kubernetes mode the vertex controller also watches
        # PersistentVolumeClaims, which a real cluster serves and the local API server does not.
        manager.setup_all(("numaflux.controller.isbsvc.controller",))
        assert [c.name for c in manager.controllers] == ["isbsvc"]
        running = asyncio.create_task(manager.run(stop))
        await kube.create(
            ISB_SERVICE,
            {
                "metadata": {"name": "default", "namespace": "default"},
                "spec": {"jetstream": {"version": "2.10.11"}},
            },
        )

        async def reported() -> dict | None:
            status = (await kube.get(ISB_SERVICE, "default", "default")).get("status") or {}
            return status if (status.get("config") or {}).get("jetstream") else None

        status = await until(reported, "ISB status written", 20)
        assert status["config"]["jetstream"]["url"] == "nats://isbsvc-default-js-svc.default.svc:4222"
        assert status["phase"] == "Running"  # deployed; not healthy until a quorum of pods is ready
        unhealthy = next(c for c in status["conditions"] if c["type"] == "ChildrenResourcesHealthy")
        assert (unhealthy["status"], unhealthy["reason"]) == ("False", "StatefulSetNotHealthy")
        assert unhealthy["message"] == "0 of 3 pods ready, quorum is 2"

        sts = await kube.get(STATEFUL_SET, "default", "isbsvc-default-js")
        assert [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]] == [
            "main",
            "reloader",
            "metrics",
        ]
        assert sts["spec"]["replicas"] == 3
        cm = await kube.get(CONFIG_MAP, "default", "isbsvc-default-js-config")
        assert "routes: [nats://isbsvc-default-js-0." in cm["data"]["nats-js.conf"]
        svc = await kube.get(SERVICE, "default", "isbsvc-default-js-svc")
        assert svc["spec"]["clusterIP"] == "None"

        # A second pass over unchanged children writes nothing.
        versions = {
            k.kind: (await kube.get(k, "default", n))["metadata"]["resourceVersion"]
            for k, n in (
                (STATEFUL_SET, "isbsvc-default-js"),
                (CONFIG_MAP, "isbsvc-default-js-config"),
            )
        }
        await kube.patch(ISB_SERVICE, "default", "default", {"metadata": {"labels": {"touch": "1"}}})
        await asyncio.sleep(1)
        assert versions == {
            k.kind: (await kube.get(k, "default", n))["metadata"]["resourceVersion"]
            for k, n in (
                (STATEFUL_SET, "isbsvc-default-js"),
                (CONFIG_MAP, "isbsvc-default-js-config"),
            )
        }
        stop.set()
        await asyncio.wait_for(running, 20)
    finally:
        stop.set()
        await api.close()
        if server.apiserver is not None:
            server.apiserver.terminate()


async def test_kubernetes_mode_leaves_deployments_and_statefulsets_to_the_cluster() -> None:
    from kubernetes_asyncio import client

    async with client.ApiClient() as api:
        manager = Manager(KubeClient(api), ControllerConfig(mode=Mode.KUBERNETES, leader_elect=False))
        manager.setup_all()
        assert sorted(c.name for c in manager.controllers) == ["autoscaler", "isbsvc", "pipeline", "vertex"]
