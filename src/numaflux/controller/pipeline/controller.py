"""Pipeline reconciler: observe → ``plan_pipeline`` → apply, in the order ``reconcile.py`` documents.

Reads come from the informer caches (the Pipeline, its Vertex objects by the pipeline-name label, pods
by the same label, the ISB service, the daemon Deployment) plus buffer infos read straight from JetStream
while a pause or deletion drains. Every write goes through to the caches at once, so the next reconcile
never acts on its own stale view. The apply stops at the first error; the key is retried with back-off
and the next reconcile recomputes everything from what it observes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kubernetes_asyncio.client.rest import ApiException
from pydantic import ValidationError

from numaflux.api import InterStepBufferService, Pipeline, PipelineStatus, Vertex
from numaflux.api import constants as c
from numaflux.concurrency import all_settled
from numaflux.controller.children import CREATED, apply_child
from numaflux.controller.controller import Controller, Result, TerminalError, spec_or_metadata_changed
from numaflux.controller.informer import Informer
from numaflux.controller.kube import (
    DEPLOYMENT,
    ISB_SERVICE,
    JSON,
    PIPELINE,
    POD,
    SERVICE,
    VERTEX,
    Kind,
    is_conflict,
    is_not_found,
)
from numaflux.controller.logs import kv
from numaflux.controller.manager import Manager
from numaflux.controller.ownership import is_terminating
from numaflux.controller.pipeline import isb as isbio
from numaflux.controller.pipeline.actions import NORMAL, VertexPatch
from numaflux.controller.pipeline.build import IsbPlan
from numaflux.controller.pipeline.ensured import EnsureMemo, EnsureTarget, ensure_target
from numaflux.controller.pipeline.ensuring import EnsureTasks
from numaflux.controller.pipeline.lifecycle import FINALIZER, NOT_READ, BuffersNeeded
from numaflux.controller.pipeline.reconcile import PipelineObserved, PipelinePlan, plan_pipeline
from numaflux.controller.pipeline.status import REASON_FIXED_RESOURCES_FAILED
from numaflux.controller.status import update_status
from numaflux.isb.admin import Action
from numaflux.isb.info import BufferInfo
from numaflux.jsondata import clone

log = logging.getLogger(__name__)

INDEX_PIPELINE = "pipeline"
"""Vertices and pods by `{namespace}/{pipeline-name label}`."""
INDEX_ISB = "pipeline-isbsvc"
"""Pipelines by `{namespace}/{ISB service name}`."""


def by_pipeline_label(obj: JSON) -> list[str]:
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(c.KEY_PIPELINE_NAME)
    return [f"{meta.get('namespace')}/{name}"] if name else []


def by_isb_service(obj: JSON) -> list[str]:
    meta = obj.get("metadata") or {}
    name = (obj.get("spec") or {}).get("interStepBufferServiceName") or c.DEFAULT_ISB_SERVICE_NAME
    return [f"{meta.get('namespace')}/{name}"]


def _dump(model: Vertex) -> JSON:
    out: JSON = model.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
    return out


def describe(err: BaseException) -> str:
    """One line about a failure: the API server's message for API errors, else type and text."""
    if isinstance(err, ApiException):
        try:
            body = json.loads(err.body or "{}")
        except (TypeError, ValueError):
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        return f"API error {err.status}: {message or err.reason}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _level(name: str) -> int:
    return logging.getLevelNamesMapping().get(name.upper(), logging.INFO)


class PipelineReconciler:
    def __init__(self, manager: Manager, informers: dict[Kind, Informer]) -> None:
        self.manager = manager
        self.kube = manager.kube
        self.recorder = manager.recorder
        self.clock = manager.clock
        self.image = manager.config.own_image
        self.informers = informers
        self.isb_clients = isbio.IsbClients()
        self.ensured = EnsureMemo()
        self.ensures = EnsureTasks(self._requeue, clock=self.clock.monotonic)
        self._lagging: dict[str, dict[str, datetime]] = {}

    # --- observe -------------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        raw = self.informers[PIPELINE].get(key)
        if raw is None:
            self._lagging.pop(key, None)
            self.ensured.forget(key)
            self.ensures.forget(key)
            return Result()
        try:
            pl = Pipeline.model_validate(clone(raw))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = f"invalid pipeline: {first.get('msg')} at {where}"
            self.recorder.warning(raw, "InvalidSpec", message)
            raise TerminalError(message) from err
        isb = self._isb(pl)
        observed = self._observe(key, pl, isb)
        now = self.clock.now()
        try:
            plan = plan_pipeline(observed, now, image=self.image)
        except BuffersNeeded:  # a drain in progress: only now are the buffers' pending counts worth reading
            buffers, error = await self._buffer_infos(pl, isb)
            observed = dataclasses.replace(observed, buffers=buffers, buffers_error=error)
            plan = plan_pipeline(observed, now, image=self.image)
        if plan.isb is None:  # ISB missing/unhealthy or deleting: whatever was ensured may be gone
            self.ensured.forget(key)
        await self._apply(raw, pl, isb, plan)
        reverify = self.ensured.reverify_in(key, self.clock.monotonic())
        return Result(requeue_after=_soonest(plan.requeue_after, reverify))

    def _isb(self, pl: Pipeline) -> InterStepBufferService | None:
        raw = self.informers[ISB_SERVICE].get(f"{pl.namespace}/{pl.get_isb_service_name()}")
        if raw is None:
            return None
        return InterStepBufferService.model_validate(clone(raw))

    def _observe(self, key: str, pl: Pipeline, isb: InterStepBufferService | None) -> PipelineObserved:
        """What the caches show; buffer infos ``NOT_READ`` (read only if the plan asks for them)."""
        vertices = [
            Vertex.model_validate(clone(v))
            for v in self.informers[VERTEX].store.by_index(INDEX_PIPELINE, key)
        ]
        sources = {v.get_name() for v in pl.sources()}
        source_pods = False
        live: dict[str, int] = {}
        for pod in self.informers[POD].store.by_index(INDEX_PIPELINE, key):
            labels = pod["metadata"].get("labels") or {}
            if labels.get(c.KEY_COMPONENT) != c.COMPONENT_VERTEX:
                continue
            vertex = labels.get(c.KEY_VERTEX_NAME, "")
            source_pods = source_pods or vertex in sources
            if not is_terminating(pod):
                name = pl.vertex_cr_name(vertex)
                live[name] = live.get(name, 0) + 1
        deployments = self.informers[DEPLOYMENT]
        return PipelineObserved(
            pipeline=pl,
            vertices=vertices,
            isb=isb,
            daemon_deployment=deployments.get(f"{pl.namespace}/{pl.daemon_deployment_name()}"),
            side_inputs_deployments=[
                deployments.get(f"{pl.namespace}/{pl.side_inputs_manager_deployment_name(si.name or '')}")
                for si in pl.spec.side_inputs or []
            ],
            source_pods_running=source_pods,
            live_pods=live,
            buffers=NOT_READ,
            lagging_since=self._lagging.get(key, {}),
        )

    async def _buffer_infos(
        self, pl: Pipeline, isb: InterStepBufferService | None
    ) -> tuple[dict[str, BufferInfo] | None, str | None]:
        url = isbio.isb_url(isb)
        if url is None:
            what = "not found" if isb is None else "has no status.config.jetstream.url"
            return None, f"isbsvc {pl.get_isb_service_name()} {what}"
        try:
            js = await self._jetstream(url)
            return await isbio.buffer_infos(js, pl), None
        except Exception as err:
            return None, f"reading buffer info from {url}: {describe(err)}"

    async def _jetstream(self, url: str) -> Any:
        live_urls = [str(u) for u in (_raw_isb_url(o) for o in self.informers[ISB_SERVICE].store.all()) if u]
        await self.isb_clients.forget_except([*live_urls, url])
        return await self.isb_clients.jetstream(url)

    # --- apply ---------------------------------------------------------------------------------------

    async def _apply(
        self, raw: JSON, pl: Pipeline, isb: InterStepBufferService | None, plan: PipelinePlan
    ) -> None:
        ns, name = pl.namespace, pl.name
        pipelines = self.informers[PIPELINE]
        step = _Written(raw)
        try:
            await self._apply_children(step, pl, isb, plan)
        except Exception as err:
            if err is step.finalizer_error:  # nothing was reported failed before the finalizer either
                raise
            if not is_conflict(err):  # a stale cache is retried at once, not a failure to report
                await self._fail_children(step.obj, plan.status, describe(err))
            raise
        obj = step.obj
        # every vertex patch lands (or the first failure is raised) before the marker is touched
        await all_settled(self._patch_vertex(ns, patch) for patch in plan.vertex_patches)
        # The marker and the status go out together; their order does not matter to the lifecycle: no
        # decision reads the phase, and `drainedOnPause` only once every vertex is Paused, which a pass
        # that writes the marker (a pause beginning, a resume ending) never leaves. The cache keeps the
        # newer answer.
        writes: list[Awaitable[object]] = [
            update_status(self.kube, PIPELINE, obj, _dump_status(plan.status), pipelines)
        ]
        annotations = plan.lifecycle.annotation_patch() if plan.lifecycle is not None else None
        if annotations is not None:
            writes.insert(0, self._patch_pipeline(step, annotations))
        await all_settled(writes)
        obj = step.obj
        if plan.lifecycle is not None and plan.lifecycle.cleanup is not None:
            await self._cleanup(obj, pl, isb, plan)
        for event in plan.events:
            self.recorder.event(obj, event.type, event.reason, event.message)
        for line in plan.logs:
            log.log(_level(line.level), kv(line.message, **line.fields))
        key = f"{ns}/{name}"
        if plan.repair is not None:
            self._lagging[key] = dict(plan.repair.lagging_since)
            queue = self._vertex_queue()
            for vertex in plan.repair.requeue_vertices:
                if queue is not None:
                    queue(f"{ns}/{vertex}")

    def _vertex_queue(self) -> Callable[[str], None] | None:
        return self._queue("vertex")

    def _queue(self, name: str) -> Callable[[str], None] | None:
        # looked up at each use: a controller gets a new queue each term it leads
        for controller in self.manager.controllers:
            if controller.name == name:
                return controller.queue.add
        return None

    def _requeue(self, key: str) -> None:
        queue = self._queue("pipeline")
        if queue is not None:
            queue(key)

    async def _apply_children(
        self, step: _Written, pl: Pipeline, isb: InterStepBufferService | None, plan: PipelinePlan
    ) -> None:
        """The finalizer, the ISB objects, Vertex objects and daemon objects: written at once (a vertex
        pod waits for its buffers and buckets, so Vertex objects need not wait for the ensure).

        The finalizer (when missing) goes out with the Vertex and daemon objects: those are owned by the
        pipeline, so the garbage collector removes them should the pipeline go first. Only the buffers and
        buckets need the finalizer's cleanup, so the ISB ensure starts once the finalizer is in place. The
        API writes have finished when the first failure is raised (the finalizer's first); the ISB ensure
        has only been started (it runs beside the reconcile, ``ensuring.py``)."""
        ns = pl.namespace
        writes: list[Awaitable[None]] = []
        ensure = None
        if plan.isb is not None and isb is not None:
            ensure = functools.partial(self._ensure_isb, pl=pl, isb=isb, wanted=plan.isb)
        if plan.add_finalizer:
            writes.append(self._add_finalizer(step, ensure))
        elif ensure is not None:
            writes.append(ensure(step.obj))
        if plan.vertices is not None:
            writes += [self._create_vertex(vertex) for vertex in plan.vertices.creates]
            writes += [self._replace_vertex(vertex) for vertex in plan.vertices.updates]
            writes += [self._delete_vertex(ns, stale) for stale in plan.vertices.deletes]
        for kind, child in ((SERVICE, plan.daemon_service), (DEPLOYMENT, plan.daemon_deployment)):
            if child is not None:
                writes.append(self._apply_daemon(step.obj, pl, kind, child))
        await all_settled(writes)

    async def _add_finalizer(self, step: _Written, then: Callable[[JSON], Awaitable[None]] | None) -> None:
        finalizers = [*(step.obj["metadata"].get("finalizers") or []), FINALIZER]
        try:
            written = await self._patch_pipeline(step, {"metadata": {"finalizers": finalizers}})
        except Exception as err:
            step.finalizer_error = err
            raise
        if then is not None:
            await then(written)

    async def _patch_pipeline(self, step: _Written, patch: JSON) -> JSON:
        """A merge patch of the pipeline's metadata; the answer goes into the cache and `step`."""
        meta = step.obj["metadata"]
        written = await self.kube.patch(PIPELINE, meta["namespace"], meta["name"], patch)
        self.informers[PIPELINE].record_write(written)
        step.obj = written
        return written

    async def _ensure_isb(
        self, obj: JSON, *, pl: Pipeline, isb: InterStepBufferService, wanted: IsbPlan
    ) -> None:
        url = isbio.isb_url(isb)
        if url is None:  # plan_pipeline only plans children for an ISB service with a URL
            raise RuntimeError(f"isbsvc {isb.name}: no status.config.jetstream.url")
        key = f"{pl.namespace}/{pl.name}"
        pending = self.ensures.pending_deletes(key, wanted.delete_buffers, wanted.delete_buckets)
        wanted = dataclasses.replace(
            wanted,
            delete_buffers=sorted(pending.buffers - set(wanted.buffers)),
            delete_buckets=sorted(pending.buckets - set(wanted.buckets)),
        )
        if self.ensures.running(key) and (wanted.delete_buffers or wanted.delete_buckets):
            # the ensure in flight predates the topology change: the deletes follow it, not a later pass
            await self.ensures.settle(key)
        js = await self._jetstream(url)
        target = ensure_target(isb, url, wanted, self.isb_clients.generation(url))
        failed = self.ensures.failure(key, target)
        now = self.clock.monotonic()
        if self.ensures.may_start(key, now) and self.ensured.needs_ensure(key, target, wanted, now):
            self.ensures.start(key, target, self._run_ensure(obj, js, isb, wanted, key, target, now))
        if failed is not None:
            raise failed  # until an ensure succeeds; the work queue's back-off spaces these reconciles

    async def _run_ensure(
        self,
        obj: JSON,
        js: Any,
        isb: InterStepBufferService,
        wanted: IsbPlan,
        key: str,
        target: EnsureTarget,
        now: float,
    ) -> None:
        actions = await isbio.ensure_plan(js, isb, wanted, self.ensured, key, target, now)
        self.ensures.deleted(key, wanted.delete_buffers, wanted.delete_buckets)
        if actions is not None:
            self._isb_events(obj, actions)

    async def _create_vertex(self, vertex: Vertex) -> None:
        try:
            self.informers[VERTEX].record_write(await self.kube.create(VERTEX, _dump(vertex)))
        except Exception as err:
            if not is_conflict(err):
                raise

    async def _replace_vertex(self, vertex: Vertex) -> None:
        self.informers[VERTEX].record_write(await self.kube.replace(VERTEX, _dump(vertex)))

    async def _delete_vertex(self, ns: str, stale: str) -> None:
        vertices = self.informers[VERTEX]
        cached = vertices.get(f"{ns}/{stale}")
        try:
            result = await self.kube.delete(VERTEX, ns, stale)
        except Exception as err:
            if not is_not_found(err):
                raise
            result = {}
        if result.get("kind") == "Vertex":
            vertices.record_write(result)
        elif cached is not None:
            vertices.record_delete(cached)

    async def _patch_vertex(self, ns: str, patch: VertexPatch) -> None:
        written = await self.kube.patch(VERTEX, ns, patch.vertex, patch.merge_patch())
        self.informers[VERTEX].record_write(written)

    async def _apply_daemon(self, obj: JSON, pl: Pipeline, kind: Kind, child: JSON) -> None:
        done = await apply_child(self.kube, self.informers[kind], kind, child)
        if done is not None:
            verb = "Create" if done == CREATED else "Update"
            child_name = child["metadata"]["name"]
            self.recorder.normal(obj, f"{verb}Daemon{kind.kind}Success", f"{done} {kind.kind} {child_name}")
            log.info(kv(f"{done} daemon {kind.kind}", pipeline=f"{pl.namespace}/{pl.name}", child=child_name))

    def _isb_events(self, obj: JSON, actions: list[Action]) -> None:
        created = [a.name for a in actions if a.outcome == "created" and a.kind != "consumer"]
        deleted = [a.name for a in actions if a.outcome == "deleted"]
        meta = obj["metadata"]
        if created:
            self.recorder.normal(obj, "CreateBuffersSuccess", "Created " + ", ".join(created))
            log.info(kv("created ISB objects", pipeline=f"{meta['namespace']}/{meta['name']}", names=created))
        if deleted:
            self.recorder.normal(obj, "DeleteBuffersSuccess", "Deleted " + ", ".join(deleted))
            log.info(kv("deleted ISB objects", pipeline=f"{meta['namespace']}/{meta['name']}", names=deleted))

    async def _fail_children(self, obj: JSON, planned: PipelineStatus, message: str) -> None:
        """A child could not be created or updated: Failed with `Deployed=False` saying which."""
        status = planned.model_copy(deep=True)
        status.mark_deploy_failed(REASON_FIXED_RESOURCES_FAILED, message, self.clock.now())
        self.recorder.warning(obj, REASON_FIXED_RESOURCES_FAILED, message)
        try:
            await update_status(self.kube, PIPELINE, obj, _dump_status(status), self.informers[PIPELINE])
        except Exception as err:  # the original failure is what the caller re-raises
            log.warning(kv("could not write the failure into status", error=repr(err)))

    async def _cleanup(
        self, obj: JSON, pl: Pipeline, isb: InterStepBufferService | None, plan: PipelinePlan
    ) -> None:
        """Deleting and drained (or out of grace): remove buffers and buckets, then let the object go."""
        assert plan.lifecycle is not None and plan.lifecycle.cleanup is not None
        cleanup = plan.lifecycle.cleanup
        url = isbio.isb_url(isb)
        key = f"{pl.namespace}/{pl.name}"
        # an ensure still running could create again what is about to be removed
        await self.ensures.settle(key)
        if url is not None and isb is not None:
            js = await self._jetstream(url)
            dropped = self.ensures.pending_deletes(key, cleanup.buffers, cleanup.buckets)
            actions = await isbio.remove(
                js, sorted(dropped.buffers), sorted(dropped.buckets), cleanup.side_inputs_store
            )
            self.ensures.forget(key)
            self._isb_events(obj, actions)
        else:
            why = "not found" if isb is None else "has no URL"
            self.recorder.warning(
                obj, "SkipBufferCleanup", f"isbsvc {pl.get_isb_service_name()} {why}; buffers not deleted"
            )
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            written = await self.kube.patch(
                PIPELINE, pl.namespace, pl.name, {"metadata": {"finalizers": finalizers}}
            )
        except Exception as err:
            if is_not_found(err):
                return
            raise
        self.informers[PIPELINE].record_write(written)
        self.recorder.event(obj, NORMAL, "FinalizerRemoved", "Buffers and buckets removed; pipeline released")


class _Written:
    """The pipeline object as this pass's metadata patches leave it (the finalizer added, the marker
    written), and the finalizer patch's failure, which is raised as it is (no failed-children status)."""

    def __init__(self, obj: JSON) -> None:
        self.obj = obj
        self.finalizer_error: BaseException | None = None


def _soonest(*delays: float | None) -> float | None:
    given = [d for d in delays if d is not None]
    return min(given) if given else None


def _raw_isb_url(obj: JSON) -> Any:
    return (((obj.get("status") or {}).get("config") or {}).get("jetstream") or {}).get("url")


def _dump_status(status: PipelineStatus) -> JSON:
    out: JSON = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _pipelines_of_isb(pipelines: Informer) -> Callable[[JSON], list[str]]:
    def keys(isb: JSON) -> list[str]:
        meta = isb.get("metadata") or {}
        return [
            f"{(p['metadata'] or {}).get('namespace')}/{p['metadata']['name']}"
            for p in pipelines.store.by_index(INDEX_ISB, f"{meta.get('namespace')}/{meta.get('name')}")
        ]

    return keys


def setup(manager: Manager) -> None:
    """Register the Pipeline controller: pipelines (spec and metadata changes, annotations included),
    their Vertex objects, daemon Deployment and Service, vertex pods (by the pipeline-name label) and
    the ISB services they use."""
    kinds = [PIPELINE, VERTEX, POD, ISB_SERVICE, DEPLOYMENT, SERVICE]
    informers = {kind: manager.informer(kind) for kind in kinds}
    informers[VERTEX].add_indexer(INDEX_PIPELINE, by_pipeline_label)
    informers[POD].add_indexer(INDEX_PIPELINE, by_pipeline_label)
    informers[PIPELINE].add_indexer(INDEX_ISB, by_isb_service)
    reconciler = PipelineReconciler(manager, informers)
    controller = manager.add(
        Controller(
            "pipeline", reconciler, workers=manager.config.workers, on_stop=reconciler.ensures.cancel_all
        )
    )
    controller.watch_primary(informers[PIPELINE], spec_or_metadata_changed)
    for kind in (VERTEX, DEPLOYMENT, SERVICE):
        controller.watch_owned(informers[kind], PIPELINE)
    controller.watch(informers[POD], by_pipeline_label)
    controller.watch(informers[ISB_SERVICE], _pipelines_of_isb(informers[PIPELINE]))


__all__ = ["PipelineReconciler", "setup"]
