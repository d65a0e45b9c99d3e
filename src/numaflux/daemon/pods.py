"""Finding the vertex pods to scrape, by replica index.

`PodProvider.discover(max_replicas)` answers vertex → replica → metrics URL for the active pods. Providers:
`StaticPodProvider` (fixed addresses), `KubernetesPodProvider` (lists the pipeline's pods through the API:
replica annotation, status.podIP — what works locally, where Services do not resolve), and
`HeadlessPodProvider` (NumaFlow's pod tracker: probe `{pl}-{v}-{i}.{pl}-{v}-headless.{ns}.svc:2469/metrics`
for every i < scale.max).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from numaflux.api import constants, naming

log = logging.getLogger(__name__)

PodMap = dict[str, dict[int, str]]
PROBE_TIMEOUT = 1.0


class PodProvider(Protocol):
    async def discover(self, max_replicas: Mapping[str, int]) -> PodMap:
        """Active pods of the given vertices (vertex → max replicas): vertex → replica → metrics URL."""
        ...

    async def close(self) -> None: ...


def metrics_url(host: str, port: int = constants.VERTEX_METRICS_PORT, scheme: str = "http") -> str:
    """The vertex metrics endpoint; numaflux vertices serve plain HTTP (NumaFlow's use HTTPS)."""
    return f"{scheme}://{host}:{port}/metrics"


class StaticPodProvider:
    """A fixed vertex → replica → URL map (replicas at or above the vertex's max are left out)."""

    def __init__(self, pods: Mapping[str, Mapping[int, str]]) -> None:
        self.pods = {v: dict(p) for v, p in pods.items()}

    async def discover(self, max_replicas: Mapping[str, int]) -> PodMap:
        return {
            v: {i: url for i, url in sorted(self.pods.get(v, {}).items()) if i < limit}
            for v, limit in max_replicas.items()
        }

    async def close(self) -> None:
        return None


def pods_from_list(items: list[dict[str, Any]], max_replicas: Mapping[str, int], port: int) -> PodMap:
    """Running pods with an IP, by vertex label and replica annotation (pure, for the Kubernetes provider)."""
    out: PodMap = {v: {} for v in max_replicas}
    for pod in items:
        meta = pod.get("metadata") or {}
        vertex = (meta.get("labels") or {}).get(constants.KEY_VERTEX_NAME)
        replica_raw = (meta.get("annotations") or {}).get(constants.KEY_REPLICA)
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if vertex not in out or replica_raw is None or not ip or meta.get("deletionTimestamp"):
            continue
        if status.get("phase") != "Running":
            continue
        try:
            replica = int(replica_raw)
        except ValueError:
            log.warning("pod %s: bad %s annotation %r", meta.get("name"), constants.KEY_REPLICA, replica_raw)
            continue
        if replica < max_replicas[vertex]:
            out[vertex][replica] = metrics_url(ip, port)
    return out


class KubernetesPodProvider:
    """Lists the pipeline's vertex pods through the Kubernetes API (kubeconfig or in-cluster config)."""

    def __init__(self, api: Any, namespace: str, pipeline: str, port: int = constants.VERTEX_METRICS_PORT):
        self._api = api  # kubernetes_asyncio ApiClient
        self.namespace = namespace
        self.pipeline = pipeline
        self.port = port

    @classmethod
    async def from_environment(cls, namespace: str, pipeline: str) -> KubernetesPodProvider:
        """Load $KUBECONFIG (or ~/.kube/config), else the in-cluster config; raises if neither exists."""
        from kubernetes_asyncio import client, config

        configuration = client.Configuration()
        try:
            # the library reads $KUBECONFIG at import time; read it now
            path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
            await config.load_kube_config(config_file=path, client_configuration=configuration)
        except (config.ConfigException, OSError, TypeError) as kube_err:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException as cluster_err:
                raise RuntimeError(
                    f"no kubeconfig ({kube_err}) and not in a cluster ({cluster_err})"
                ) from None
        return cls(client.ApiClient(configuration), namespace, pipeline)

    async def discover(self, max_replicas: Mapping[str, int]) -> PodMap:
        from kubernetes_asyncio import client

        selector = (
            f"{constants.KEY_PIPELINE_NAME}={self.pipeline},"
            f"{constants.KEY_COMPONENT}={constants.COMPONENT_VERTEX}"
        )
        core = client.CoreV1Api(self._api)
        result = await core.list_namespaced_pod(self.namespace, label_selector=selector, _request_timeout=5)
        items = self._api.sanitize_for_serialization(result).get("items") or []
        return pods_from_list(items, max_replicas, self.port)

    async def close(self) -> None:
        await self._api.close()


class HeadlessPodProvider:
    """NumaFlow's pod tracker: HEAD each replica's metrics URL through the headless service's DNS name."""

    def __init__(
        self,
        namespace: str,
        pipeline: str,
        port: int = constants.VERTEX_METRICS_PORT,
        scheme: str = "http",
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self.namespace = namespace
        self.pipeline = pipeline
        self.port = port
        self.scheme = scheme
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    def url(self, vertex: str, replica: int) -> str:
        cr = naming.vertex_cr_name(self.pipeline, vertex)
        pod = naming.vertex_pod_hostname(cr, replica)
        host = f"{pod}.{naming.headless_service_name(cr)}.{self.namespace}.svc"
        return metrics_url(host, self.port, self.scheme)

    async def _active(self, url: str) -> bool:
        try:
            async with self._session.head(url) as resp:
                return resp.status < 400
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def discover(self, max_replicas: Mapping[str, int]) -> PodMap:
        out: PodMap = {}
        for vertex, limit in max_replicas.items():
            urls = [self.url(vertex, i) for i in range(limit)]
            alive = await asyncio.gather(*(self._active(u) for u in urls))
            out[vertex] = {i: u for i, (u, ok) in enumerate(zip(urls, alive, strict=True)) if ok}
        return out

    async def close(self) -> None:
        await self._session.close()
