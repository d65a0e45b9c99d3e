"""The order of a Pipeline reconcile's writes, against a recording API client: the creating pass sends the
finalizer with the Vertex and daemon objects, ensures the buffers only once the finalizer is in place, and
sends the pause marker with the status."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import pytest
from kubernetes_asyncio.client.rest import ApiException

from numaflux.controller.config import ControllerConfig
from numaflux.controller.kube import ISB_SERVICE, JSON, PIPELINE, Kind, KubeClient
from numaflux.controller.manager import Manager
from numaflux.controller.pipeline import controller as pipeline_controller
from numaflux.controller.pipeline.controller import PipelineReconciler
from numaflux.controller.pipeline.lifecycle import FINALIZER
from numaflux.jsondata import clone

from .test_pipeline_reconcile import healthy_isb, pipeline


class RecordingKube:
    """Records each write as it starts; the finalizer patch waits until every Vertex create is out, the
    pause marker's until the status patch is."""

    def __init__(self, fail_finalizer: bool = False) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.status_sent = asyncio.Event()
        self.fail_finalizer = fail_finalizer
        self._rv = itertools.count(10)

    def _written(self, obj: JSON) -> JSON:
        out = clone(obj)
        out["metadata"]["resourceVersion"] = str(next(self._rv))
        out["metadata"].setdefault("uid", f"uid-{out['metadata']['name']}")
        return out

    async def create(self, kind: Kind, obj: JSON) -> JSON:
        if kind.kind == "Event":
            return obj
        self.calls.append(f"create {kind.kind} {obj['metadata']['name']}")
        if sum(call.startswith("create Vertex") for call in self.calls) == 3:
            self.release.set()  # every Vertex create is out: the finalizer may land now
        await asyncio.sleep(0)
        return self._written(obj)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: JSON, sub: str | None = None) -> JSON:
        if kind.kind == "Event":
            return patch
        what = f"patch {kind.kind} {name}" + (f"/{sub}" if sub else f" {sorted(patch['metadata'])}")
        self.calls.append(what)
        if "finalizers" in patch.get("metadata", {}):
            await self.release.wait()
            if self.fail_finalizer:
                raise ApiException(status=422, reason="Unprocessable Entity")
            self.calls.append("finalizer landed")
        if sub == "status":
            self.status_sent.set()
        elif "annotations" in patch["metadata"]:
            await self.status_sent.wait()  # lands only once the status is out too
            self.calls.append("marker landed")
        current = clone(self.pipeline)
        if sub == "status":
            current["status"] = patch["status"]
        else:
            current["metadata"].update(patch["metadata"])
        self.pipeline = self._written(current)
        return self.pipeline

    pipeline: JSON = {}


def reconciler_for(kube: RecordingKube) -> tuple[PipelineReconciler, list[str]]:
    manager = Manager(cast(KubeClient, kube), ControllerConfig())
    pipeline_controller.setup(manager)
    reconciler = manager.controllers[0].reconciler
    assert isinstance(reconciler, PipelineReconciler)
    raw = pipeline(desired="Paused", finalizer=False).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    kube.pipeline = raw
    reconciler.informers[PIPELINE].record_write(raw)
    isb = healthy_isb().model_dump(mode="json", by_alias=True, exclude_none=True)
    reconciler.informers[ISB_SERVICE].record_write(isb)
    ensures: list[str] = []

    async def ensure(obj: JSON, **_: Any) -> None:
        kube.calls.append("ISB ensure started")
        ensures.append(",".join(obj["metadata"].get("finalizers") or []))

    reconciler._ensure_isb = ensure  # type: ignore[method-assign]
    return reconciler, ensures


# The creating pass's first step: the finalizer patch and the children, sent together.
CHILDREN_STEP = [
    "patch Pipeline pl ['finalizers']",
    "create Vertex pl-in",
    "create Vertex pl-cat",
    "create Vertex pl-out",
    "create Service pl-daemon-svc",
    "create Deployment pl-daemon",
]


async def test_the_creating_pass_sends_the_finalizer_with_the_children_and_the_marker_with_the_status() -> (
    None
):
    kube = RecordingKube()
    reconciler, ensures = reconciler_for(kube)
    await asyncio.wait_for(reconciler.reconcile("ns/pl"), 5)
    assert kube.calls == [
        *CHILDREN_STEP,
        "finalizer landed",
        "ISB ensure started",
        "patch Pipeline pl ['annotations']",  # the pause marker, after every Vertex exists...
        "patch Pipeline pl/status",  # ...with the status
        "marker landed",
    ]
    assert ensures == [FINALIZER]  # the buffers are ensured for a pipeline that carries the finalizer
    await reconciler.manager.recorder.flush()


async def test_a_failed_finalizer_stops_the_pass_without_a_failure_status_or_buffers() -> None:
    kube = RecordingKube(fail_finalizer=True)
    reconciler, ensures = reconciler_for(kube)
    with pytest.raises(ApiException) as err:
        await asyncio.wait_for(reconciler.reconcile("ns/pl"), 5)
    assert err.value.status == 422
    assert kube.calls == CHILDREN_STEP
    assert ensures == []
    await reconciler.manager.recorder.flush()
