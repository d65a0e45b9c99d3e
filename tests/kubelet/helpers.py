"""Pod builders and polling helpers for the kubelet tests."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from numaflux.kubelet.node import Kubelet

DATA = Path(__file__).parent / "data"
PY = sys.executable


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A minimal Pod object as the API server would hand it to the kubelet."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4()), "labels": {"app": name}},
        "spec": {"nodeName": "test-node", "containers": containers, **spec},
    }


def python(name: str, code: str, **extra: Any) -> dict[str, Any]:
    """A container running a Python snippet."""
    return {"name": name, "image": "python:3.11", "command": [PY, "-u", "-c", code], **extra}


SERVE_HTTP = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer((os.environ["POD_IP"], int(os.environ.get("PORT", "2469"))), H).serve_forever()
"""

POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


async def eventually(check: Callable[[], Any], within: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns a truthy value; TimeoutError after `within` seconds."""

    async def loop() -> Any:
        while True:
            value = check()
            if value:
                return value
            await asyncio.sleep(interval)

    return await asyncio.wait_for(loop(), within)


async def eventually_async(check: Callable[[], Awaitable[Any]], within: float = 30.0) -> Any:
    """Like `eventually` for an async check."""

    async def loop() -> Any:
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(loop(), within)


def container_status(node: Kubelet, p: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    status = node.status(p["metadata"]["uid"]) or {}
    key = "initContainerStatuses" if init else "containerStatuses"
    return next(s for s in status.get(key, []) if s["name"] == name)


def phase(node: Kubelet, p: dict[str, Any]) -> str:
    return str((node.status(p["metadata"]["uid"]) or {}).get("phase"))


def condition(node: Kubelet, p: dict[str, Any], kind: str) -> str:
    status = node.status(p["metadata"]["uid"]) or {}
    return next(c["status"] for c in status.get("conditions", []) if c["type"] == kind)


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
