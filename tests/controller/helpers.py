"""Waiting on API state in the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from numaflux.controller.kube import EVENT, JSON, POD, KubeClient, is_not_found

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0) -> T:
    """Poll `check` until it returns something other than None/False."""

    async def loop() -> T:
        while True:
            value = await check()
            if value is not None and value is not False:
                return value
            await asyncio.sleep(0.1)

    try:
        return await asyncio.wait_for(loop(), within)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {within:g}s") from None


async def pods_of(kube: KubeClient, namespace: str, prefix: str) -> list[JSON]:
    """Live (not terminating) pods whose name starts with `prefix`, by name."""
    items = (await kube.list(POD, namespace)).get("items") or []
    found = [
        p
        for p in items
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]
    return sorted(found, key=lambda p: p["metadata"]["name"])


def is_ready(pod: JSON) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


async def get_or_none(kube: KubeClient, kind: Any, namespace: str, name: str) -> JSON | None:
    try:
        return await kube.get(kind, namespace, name)
    except Exception as err:
        if is_not_found(err):
            return None
        raise


SLEEPER = {
    "containers": [
        {"name": "main", "image": "python:3.11", "command": ["python", "-c", "import time; time.sleep(3600)"]}
    ],
    "terminationGracePeriodSeconds": 1,
}


def workload(kind: str, name: str, namespace: str, replicas: int, **spec: Any) -> JSON:
    """A Deployment or StatefulSet whose pods sleep."""
    labels = {"app": name}
    body: JSON = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": SLEEPER},
            **spec,
        },
    }
    if kind == "StatefulSet":
        body["spec"].setdefault("serviceName", name)
    return body


async def events_about(
    kube: KubeClient, namespace: str, kind: str, *reasons: str, within: float = 15.0
) -> list[tuple[str, str]]:
    """(reason, message) of the Events about objects of `kind`, once every one of `reasons` is there.

    The recorder writes Events in the background, after the status it explains, so a test that has just
    seen a phase waits for the matching Event instead of reading the list once.
    """

    async def found() -> list[tuple[str, str]] | None:
        items = (await kube.list(EVENT, namespace)).get("items") or []
        pairs = [(e["reason"], e["message"]) for e in items if e["involvedObject"]["kind"] == kind]
        have = {r for r, _ in pairs}
        return pairs if all(r in have for r in reasons) else None

    return await until(found, f"{kind} events {', '.join(reasons)}", within)
