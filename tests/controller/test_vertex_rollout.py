"""A changed UDF rolls out replica by replica: with maxUnavailable 1 of 3, at every observation at least 2
pods of the vertex are Ready (old or new), and in the end all 3 carry the new pod-spec hash."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from numaflux.api import constants as c
from numaflux.controller.kube import JSON, PIPELINE, POD, VERTEX, KubeClient

from .cluster import Process
from .helpers import is_ready, until
from .test_pipeline_e2e import create_isb
from .test_vertex_e2e import vertex_pods

pytestmark = pytest.mark.timeout(240)

REPLICAS, MAX_UNAVAILABLE = 3, 1


def rolling_pipeline(namespace: str, arg: str) -> JSON:
    cat: JSON = {
        "name": "cat",
        "scale": {"min": REPLICAS, "max": REPLICAS},
        "updateStrategy": {"rollingUpdate": {"maxUnavailable": MAX_UNAVAILABLE}},
        "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable", "args": [arg]}},
    }
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "vertices": [
                {"name": "in", "source": {"generator": {"rpu": 1, "duration": "1s"}}},
                cat,
                {"name": "out", "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


def pod_hash(pod: JSON) -> str:
    return str((pod["metadata"].get("annotations") or {}).get(c.KEY_HASH))


async def rollout_state(kube: KubeClient, namespace: str, manager: Process) -> str:
    """What a stalled rollout looks like: the Vertex status, every pod of it, the controller's lines."""
    v = await kube.get(VERTEX, namespace, "pl-cat")
    items = (await kube.list(POD, namespace)).get("items") or []
    pods = [
        (
            p["metadata"]["name"],
            pod_hash(p)[:8],
            (p.get("status") or {}).get("phase"),
            is_ready(p),
            bool(p["metadata"].get("deletionTimestamp")),
        )
        for p in items
        if "-cat-" in p["metadata"]["name"]
    ]
    lines = [line for line in manager.output().splitlines() if "pl-cat" in line]
    return "\n".join([f"status: {v.get('status')}", *map(str, pods), *lines[-60:]])


async def test_changing_a_udfs_args_rolls_pods_no_faster_than_max_unavailable(
    manager: Process, kube: KubeClient, namespace: str
) -> None:
    await create_isb(kube, namespace)
    await kube.create(PIPELINE, rolling_pipeline(namespace, "--variant=a"))

    async def all_ready() -> list[JSON] | None:
        pods = await vertex_pods(kube, namespace, "cat")
        return pods if len(pods) == REPLICAS and all(is_ready(p) for p in pods) else None

    before = await until(all_ready, f"{REPLICAS} ready pods of pl-cat", 150)
    old_hashes = {pod_hash(p) for p in before}
    assert len(old_hashes) == 1

    # Observe the vertex's pods throughout the rollout: Ready and not terminating counts as available.
    observed: list[tuple[int, int, int]] = []  # (available, old, new)
    done = asyncio.Event()

    async def observe() -> None:
        while not done.is_set():
            pods = await vertex_pods(kube, namespace, "cat")
            available = [p for p in pods if is_ready(p)]
            old = sum(1 for p in available if pod_hash(p) in old_hashes)
            observed.append((len(available), old, len(available) - old))
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(observe())
    try:
        pl = await kube.get(PIPELINE, namespace, "pl")
        pl["spec"] = rolling_pipeline(namespace, "--variant=b")["spec"]
        await kube.replace(PIPELINE, pl)

        async def rolled() -> list[JSON] | None:
            v = await kube.get(VERTEX, namespace, "pl-cat")
            st = v.get("status") or {}
            pods = await vertex_pods(kube, namespace, "cat")
            new = [p for p in pods if pod_hash(p) not in old_hashes and is_ready(p)]
            if (
                len(pods) == REPLICAS
                and len(new) == REPLICAS
                and st.get("currentHash") == st.get("updateHash")
            ):
                return pods
            return None

        try:
            after = await until(rolled, "every pl-cat pod replaced and Ready", 150)
        except AssertionError:
            print(await rollout_state(kube, namespace, manager))
            raise
    finally:
        done.set()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    print(f"{len(observed)} observations; min available {min(a for a, _, _ in observed)}")
    assert {p["metadata"]["uid"] for p in after}.isdisjoint({p["metadata"]["uid"] for p in before})
    assert sorted(p["metadata"]["annotations"][c.KEY_REPLICA] for p in after) == ["0", "1", "2"]
    # mixed old and new pods were seen, i.e. the rollout went in steps …
    assert any(old and new for _, old, new in observed), observed
    # … and never with more than maxUnavailable replicas missing.
    assert min(a for a, _, _ in observed) >= REPLICAS - MAX_UNAVAILABLE, observed
    await kube.delete(PIPELINE, namespace, "pl")
