"""Vertex reconciler: observe → ``plan_vertex`` → apply, from the Vertex object alone (never the Pipeline).

Apply order (``reconcile.py``): claims → stale/changed services deleted → services created → pods
created → pods deleted → status → Events, then requeue. Pod creates and deletes are written through to
the pod cache, so a reconcile that runs before the watch catches up does not create the same replica
twice; status (which carries the rolling-update bookkeeping) is written through to the vertex cache.

PersistentVolumeClaims (reduce storage) are watched in Kubernetes mode only: the local API server has no
PVCs, so locally a vertex asking for one gets a Warning Event and its pods report the missing volume.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from numaflux.api import InterStepBufferService, Vertex
from numaflux.api import constants as c
from numaflux.controller.autoscaler import scaler
from numaflux.controller.config import Mode
from numaflux.controller.controller import Controller, Result, TerminalError, spec_or_metadata_changed
from numaflux.controller.informer import Informer
from numaflux.controller.kube import (
    ISB_SERVICE,
    JSON,
    POD,
    SERVICE,
    VERTEX,
    Kind,
    is_conflict,
    is_not_found,
)
from numaflux.controller.logs import kv
from numaflux.controller.manager import Manager
from numaflux.controller.status import update_status
from numaflux.controller.vertex.reconcile import VertexObserved, VertexReconcilePlan, plan_vertex
from numaflux.controller.workloads.pods import create_pod, delete_pod
from numaflux.jsondata import clone

log = logging.getLogger(__name__)

PVC = Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
INDEX_VERTEX = "vertex-labels"
"""Pods and Services by `{namespace}/{pipeline-name}/{vertex-name}` labels."""
INDEX_ISB = "vertex-isbsvc"
"""Vertices by `{namespace}/{ISB service name}`."""


def by_vertex_labels(obj: JSON) -> list[str]:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    pipeline, vertex = labels.get(c.KEY_PIPELINE_NAME), labels.get(c.KEY_VERTEX_NAME)
    if not pipeline or not vertex:
        return []
    return [f"{meta.get('namespace')}/{pipeline}/{vertex}"]


def by_isb_service(obj: JSON) -> list[str]:
    meta = obj.get("metadata") or {}
    name = (obj.get("spec") or {}).get("interStepBufferServiceName") or c.DEFAULT_ISB_SERVICE_NAME
    return [f"{meta.get('namespace')}/{name}"]


class VertexReconciler:
    def __init__(self, manager: Manager, informers: dict[Kind, Informer]) -> None:
        self.kube = manager.kube
        self.recorder = manager.recorder
        self.clock = manager.clock
        self.image = manager.config.own_image
        self.local = manager.config.mode is Mode.LOCAL
        self.informers = informers

    async def reconcile(self, key: str) -> Result:
        raw = self.informers[VERTEX].get(key)
        if raw is None:
            return Result()
        try:
            vertex = Vertex.model_validate(clone(raw))
        except ValidationError as err:
            first = err.errors()[0]
            message = (
                f"invalid vertex: {first.get('msg')} at {'.'.join(str(p) for p in first.get('loc', ()))}"
            )
            self.recorder.warning(raw, "InvalidSpec", message)
            raise TerminalError(message) from err
        ns = vertex.namespace
        labels_key = f"{ns}/{vertex.spec.pipeline_name or ''}/{vertex.spec.get_name()}"
        pods = [p for p in self.informers[POD].store.by_index(INDEX_VERTEX, labels_key) if _is_vertex_pod(p)]
        services = [
            s
            for s in self.informers[SERVICE].store.by_index(INDEX_VERTEX, labels_key)
            if (s["metadata"].get("labels") or {}).get(c.KEY_MANAGED_BY) == c.MANAGED_BY_VERTEX_CONTROLLER
        ]
        isb_raw = self.informers[ISB_SERVICE].get(f"{ns}/{vertex.spec.get_isb_service_name()}")
        isb = InterStepBufferService.model_validate(clone(isb_raw)) if isb_raw is not None else None
        claims = (
            [o["metadata"]["name"] for o in self.informers[PVC].store.by_index(INDEX_VERTEX, labels_key)]
            if PVC in self.informers
            else []
        )
        plan = plan_vertex(
            VertexObserved(vertex, pods, services, isb, claims), self.clock.now(), image=self.image
        )
        await self._apply(raw, vertex, plan)
        return Result(requeue_after=plan.requeue_after)

    async def _apply(self, raw: JSON, vertex: Vertex, plan: VertexReconcilePlan) -> None:
        ns = vertex.namespace
        where = f"{ns}/{vertex.name}"
        if plan.create_claims:
            if PVC not in self.informers:
                names = ", ".join(p["metadata"]["name"] for p in plan.create_claims)
                self.recorder.warning(
                    raw,
                    "PersistentVolumeClaimUnsupported",
                    f"the local cluster has no PersistentVolumeClaims; not created: {names} "
                    "(use storage.emptyDir for reduce locally)",
                )
            else:
                for claim in plan.create_claims:
                    await self._create(PVC, claim, "PersistentVolumeClaim", raw)
        services = self.informers[SERVICE]
        for name in plan.delete_services:
            cached = services.get(f"{ns}/{name}")
            try:
                await self.kube.delete(SERVICE, ns, name)
            except Exception as err:
                if not is_not_found(err):
                    raise
            if cached is not None:
                services.record_delete(cached)
            self.recorder.normal(raw, "DeleteServiceSuccess", f"Deleted service {name}")
        for svc in plan.create_services:
            await self._create(SERVICE, svc, "Service", raw)
        pods = self.informers[POD]
        for pod in plan.create_pods:
            created = await create_pod(self.kube, pods, pod)
            if created is not None:
                log.info(kv("created pod", vertex=where, pod=pod["metadata"]["name"]))
                self.recorder.normal(raw, "CreatePodSuccess", f"Created pod {pod['metadata']['name']}")
        for name in plan.delete_pods:
            cached = pods.get(f"{ns}/{name}")
            if cached is None:
                continue
            await delete_pod(self.kube, pods, cached)
            log.info(kv("deleted pod", vertex=where, pod=name))
            self.recorder.normal(raw, "DeletePodSuccess", f"Deleted pod {name}")
        if plan.status is not None:
            status: dict[str, Any] = plan.status.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                await update_status(self.kube, VERTEX, raw, status, self.informers[VERTEX])
            except Exception as err:
                if not is_not_found(err):
                    raise
                log.info(kv("vertex deleted during its reconcile", vertex=where))
                return
        for event in plan.events:
            self.recorder.event(raw, event.type, event.reason, event.message)

    async def _create(self, kind: Kind, obj: JSON, what: str, owner: JSON) -> None:
        try:
            created = await self.kube.create(kind, obj)
        except Exception as err:
            if is_conflict(err):
                return  # made by an earlier pass; the cache will show it
            raise
        self.informers[kind].record_write(created)
        name = obj["metadata"]["name"]
        self.recorder.normal(owner, f"Create{what}Success", f"Created {what.lower()} {name}")


def _is_vertex_pod(pod: JSON) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return labels.get(c.KEY_COMPONENT) == c.COMPONENT_VERTEX


def _vertices_of_isb(vertices: Informer) -> Any:
    def keys(isb: JSON) -> list[str]:
        meta = isb.get("metadata") or {}
        found = vertices.store.by_index(INDEX_ISB, f"{meta.get('namespace')}/{meta.get('name')}")
        return [f"{v['metadata'].get('namespace')}/{v['metadata']['name']}" for v in found]

    return keys


def setup(manager: Manager) -> None:
    """Register the Vertex controller: vertices (spec and metadata changes), their pods and Services
    (owned), the ISB services they use, and PVCs in Kubernetes mode; and the autoscaler."""
    kinds = [VERTEX, POD, SERVICE, ISB_SERVICE]
    if manager.config.mode is Mode.KUBERNETES:
        kinds.append(PVC)
    informers = {kind: manager.informer(kind) for kind in kinds}
    for kind in (POD, SERVICE, *((PVC,) if PVC in informers else ())):
        informers[kind].add_indexer(INDEX_VERTEX, by_vertex_labels)
    informers[VERTEX].add_indexer(INDEX_ISB, by_isb_service)
    reconciler = VertexReconciler(manager, informers)
    controller = manager.add(Controller("vertex", reconciler, workers=manager.config.workers))
    controller.watch_primary(informers[VERTEX], spec_or_metadata_changed)
    for kind in (POD, SERVICE):
        controller.watch_owned(informers[kind], VERTEX)
    controller.watch(informers[ISB_SERVICE], _vertices_of_isb(informers[VERTEX]))
    scaler.setup(manager)  # NumaFlow's vertex controller starts the autoscaler too
