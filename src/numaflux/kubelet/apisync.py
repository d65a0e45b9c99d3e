"""Small helpers over kubernetes_asyncio for the agent: raw JSON calls and the ConfigMap/Secret resolver."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

MERGE_PATCH = "application/merge-patch+json"


async def raw_json(call: Awaitable[Any]) -> dict[str, Any]:
    """Await an API call made with `_preload_content=False` and return its JSON body.

    Raises ApiException with the status and body when the answer is not 2xx.
    """
    response = await call
    try:
        body = await response.read()
    finally:
        response.release()
    if not 200 <= response.status <= 299:
        raise ApiException(status=response.status, reason=body.decode(errors="replace"))
    return dict(json.loads(body)) if body else {}


async def watch_lines(call: Awaitable[Any]) -> AsyncIterator[dict[str, Any]]:
    """Decoded watch events of a `watch=True, _preload_content=False` call."""
    response = await call
    try:
        if not 200 <= response.status <= 299:
            body = await response.read()
            raise ApiException(status=response.status, reason=body.decode(errors="replace"))
        while True:
            line = await response.content.readline()
            if not line:
                return
            if line.strip():
                yield json.loads(line)
    finally:
        response.release()


class ApiResolver:
    """ConfigMaps and Secrets read from the API server (None when they do not exist)."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core: Any = core

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = await self._read(self.core.read_namespaced_config_map(name, namespace, _preload_content=False))
        if obj is None:
            return None
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = await self._read(self.core.read_namespaced_secret(name, namespace, _preload_content=False))
        if obj is None:
            return None
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        return data

    @staticmethod
    async def _read(call: Awaitable[Any]) -> dict[str, Any] | None:
        try:
            return await raw_json(call)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
