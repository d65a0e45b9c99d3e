"""A small dynamic client over kubernetes_asyncio's ApiClient: any kind, plain dicts in and out."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from yarl import URL

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Kind:
    """Where a resource lives: group/version/plural and its Kind."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        """The URL path of the collection (or of one object, or of its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base


POD = Kind("", "v1", "pods", "Pod")
SERVICE = Kind("", "v1", "services", "Service")
CONFIG_MAP = Kind("", "v1", "configmaps", "ConfigMap")
EVENT = Kind("", "v1", "events", "Event")
DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment")
STATEFUL_SET = Kind("apps", "v1", "statefulsets", "StatefulSet")
LEASE = Kind("coordination.k8s.io", "v1", "leases", "Lease")
ISB_SERVICE = Kind("numaflow.numaproj.io", "v1alpha1", "interstepbufferservices", "InterStepBufferService")
PIPELINE = Kind("numaflow.numaproj.io", "v1alpha1", "pipelines", "Pipeline")
VERTEX = Kind("numaflow.numaproj.io", "v1alpha1", "vertices", "Vertex")


def is_status(err: BaseException, *codes: int) -> bool:
    """Whether `err` is an API error with one of the HTTP `codes`."""
    return isinstance(err, ApiException) and err.status in codes


def is_not_found(err: BaseException) -> bool:
    return is_status(err, 404)


def is_conflict(err: BaseException) -> bool:
    """409: AlreadyExists or a resourceVersion conflict."""
    return is_status(err, 409)


def resolve_environment_once(api: client.ApiClient) -> None:
    """Resolve the environment's proxy for the API server once, instead of on every request.

    kubernetes_asyncio's session trusts the environment, so aiohttp looks up the proxy variables and
    ``~/.netrc`` in a worker thread for every request: two thread hand-offs per call, each waiting for the
    GIL behind a busy event loop, which added tens of milliseconds to every reconcile. The environment
    does not change while the process runs. netrc credentials never applied: requests with a bearer token
    carry an Authorization header, which aiohttp refuses to combine with netrc auth (client-go reads no
    netrc either).
    """
    rest = api.rest_client
    if not rest.proxy:
        with contextlib.suppress(LookupError):
            proxy, auth = get_env_proxy_for_url(URL(api.configuration.host or ""))
            rest.proxy = str(proxy)
            if auth is not None:
                rest.proxy_headers = {**(rest.proxy_headers or {}), "Proxy-Authorization": auth.encode()}
    rest.pool_manager._trust_env = False


class KubeClient:
    """CRUD, list and watch of any kind as dicts. Errors are kubernetes_asyncio ApiException."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        resolve_environment_once(api)

    async def _call(
        self, method: str, path: str, *, query: JSON | None = None, body: Any = None, content_type: str = ""
    ) -> JSON:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        result = await self.api.call_api(
            path,
            method,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=True,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return result if isinstance(result, dict) else {}

    async def get(self, kind: Kind, namespace: str | None, name: str) -> JSON:
        return await self._call("GET", kind.path(namespace, name))

    async def list(self, kind: Kind, namespace: str | None = None, **query: Any) -> JSON:
        """The List object (items plus metadata.resourceVersion)."""
        return await self._call("GET", kind.path(namespace), query=query)

    async def create(self, kind: Kind, obj: JSON) -> JSON:
        namespace = obj.get("metadata", {}).get("namespace")
        body = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        return await self._call("POST", kind.path(namespace), body=body)

    async def replace(self, kind: Kind, obj: JSON, sub: str | None = None) -> JSON:
        meta = obj["metadata"]
        body = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        return await self._call("PUT", kind.path(meta.get("namespace"), meta["name"], sub), body=body)

    async def patch(
        self, kind: Kind, namespace: str | None, name: str, patch: JSON, sub: str | None = None
    ) -> JSON:
        """JSON merge patch (RFC 7386) of the object or of a subresource such as `status`."""
        return await self._call(
            "PATCH", kind.path(namespace, name, sub), body=patch, content_type=MERGE_PATCH
        )

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None, propagation: str = ""
    ) -> JSON:
        """Delete; with `uid` only that incarnation (a precondition). Returns the object or a Status."""
        body: JSON = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            body["preconditions"] = {"uid": uid}
        if propagation:
            body["propagationPolicy"] = propagation
        return await self._call("DELETE", kind.path(namespace, name), body=body)

    async def watch(
        self, kind: Kind, namespace: str | None, resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[JSON]:
        """Stream watch events ({type, object}) from `resource_version` until the server ends the stream."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=timeout_seconds + 30)
        response = await self.api.call_api(
            kind.path(namespace),
            "GET",
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=timeout,
        )
        try:
            if response.status != 200:
                text = await response.text()
                raise ApiException(status=response.status, reason=text[:500])
            # Split lines ourselves: aiohttp's readline() refuses lines over 128 KiB (large objects).
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        finally:
            response.release()
