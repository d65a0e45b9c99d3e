"""The autoscaler loop: visits every scalable vertex about every `interval` seconds while leading.

It is a controller whose reconcile is one visit: read the Vertex and its Pipeline from the caches, stop
at the checks that need no metrics, else read the pipeline daemon (buffers and the vertex's rates and
pendings), `decide`, and when the decision changes the replica count write only ``spec.replicas`` (a
merge patch that carries the resourceVersion it decided on, so a vertex changed meanwhile is decided
again), with an Event and a log line carrying the decision's inputs. Every visit requeues itself.

The interval is ``NUMAFLUX_SCALE_INTERVAL`` seconds (default 30, NumaFlow's); 0 turns the autoscaler off.
Locally the daemon is reached at its ready pod's IP (Service names do not resolve); on Kubernetes at
``{pipeline}-daemon-svc.{namespace}.svc:4327``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

from pydantic import ValidationError

from numaflux.api import Pipeline, Vertex
from numaflux.api import constants as c
from numaflux.controller.autoscaler.decide import (
    BackPressure,
    Decision,
    LoadHistory,
    Observed,
    PartitionLoad,
    ScaleUp,
    back_pressure,
    decide,
    learn,
    pre_check,
)
from numaflux.controller.config import Mode
from numaflux.controller.controller import Controller, Result
from numaflux.controller.kube import JSON, PIPELINE, POD, VERTEX, is_conflict, is_not_found
from numaflux.controller.logs import kv
from numaflux.controller.manager import Manager
from numaflux.controller.ownership import is_pod_ready, is_terminating, pod_ip
from numaflux.controller.pipeline.lifecycle import parse_time
from numaflux.daemon.client import DaemonClient, DaemonError
from numaflux.daemon.rater import DEFAULT_WINDOW
from numaflux.jsondata import clone

log = logging.getLogger(__name__)

ENV_SCALE_INTERVAL = "NUMAFLUX_SCALE_INTERVAL"
DEFAULT_INTERVAL = 30.0
DAEMON_TIMEOUT = 5.0
NAME = "autoscaler"


def scale_interval(env: dict[str, str] | None = None) -> float:
    """``NUMAFLUX_SCALE_INTERVAL`` in seconds (default 30); 0 or less turns the autoscaler off."""
    raw = (os.environ if env is None else env).get(ENV_SCALE_INTERVAL, "")
    if not raw:
        return DEFAULT_INTERVAL
    try:
        return max(0.0, float(raw))
    except ValueError as err:
        raise ValueError(f"{ENV_SCALE_INTERVAL}: expected seconds, got {raw!r}") from err


class Scaler:
    """One visit per reconcile; remembers, per vertex, its last scale-up (for the rate-follow check) and
    its load history (for the capacity floor)."""

    def __init__(self, manager: Manager, interval: float) -> None:
        self.kube = manager.kube
        self.recorder = manager.recorder
        self.clock = manager.clock
        self.local = manager.config.mode is Mode.LOCAL
        self.interval = interval
        self.vertices = manager.informer(VERTEX)
        self.pipelines = manager.informer(PIPELINE)
        self.pods = manager.informer(POD)
        self.scale_ups: dict[str, ScaleUp] = {}
        self.loads: dict[str, LoadHistory] = {}
        self.decisions = 0

    async def reconcile(self, key: str) -> Result:
        raw = self.vertices.get(key)
        if raw is None:
            self.scale_ups.pop(key, None)
            self.loads.pop(key, None)
            return Result()
        try:
            await self.visit(key, raw)
        except DaemonError as err:
            log.info(kv("autoscaler cannot read the daemon", vertex=key, error=str(err)))
        return Result(requeue_after=self.interval)

    async def visit(self, key: str, raw: JSON) -> Decision | None:
        """Decide for one vertex and apply the decision; returns it (None: not a vertex we can read)."""
        try:
            vertex = Vertex.model_validate(clone(raw))
        except ValidationError:
            return None  # the vertex controller reports invalid specs
        if not vertex.scalable():
            return None
        ns = vertex.namespace
        pl_raw = self.pipelines.get(f"{ns}/{vertex.spec.pipeline_name or ''}")
        if pl_raw is None:
            return None
        try:
            pl = Pipeline.model_validate(clone(pl_raw))
        except ValidationError:
            return None
        now = self.clock.now()
        decision = pre_check(vertex, pl.get_desired_phase(), now)
        pressure = None
        if decision is None:
            found = await self._decide_with_metrics(vertex, pl)
            if found is None:
                return None
            decision, pressure = found
        await self._apply(key, raw, vertex, decision, pressure)
        return decision

    async def _decide_with_metrics(
        self, vertex: Vertex, pl: Pipeline
    ) -> tuple[Decision, BackPressure] | None:
        url = self.daemon_url(pl)
        if url is None:
            log.info(kv("autoscaler: no ready daemon pod", pipeline=f"{pl.namespace}/{pl.name}"))
            return None
        name = vertex.spec.get_name()
        async with DaemonClient(url, timeout=DAEMON_TIMEOUT) as daemon:
            infos = {b.buffer: b for b in await daemon.list_buffers(pl.name)}
            metrics = await daemon.get_vertex_metrics(pl.name, name)
        own = [infos[b] for b in vertex.owned_buffer_names() if b in infos]
        partitions = [
            PartitionLoad(m.processing_rates.get(DEFAULT_WINDOW), m.pendings.get(DEFAULT_WINDOW))
            for m in metrics
        ]
        key = f"{vertex.namespace}/{vertex.name}"
        pressure = back_pressure(pl, name, infos)
        observed = Observed(
            vertex,
            pl.get_desired_phase(),
            self.clock.now(),
            partitions=partitions,
            buffers=own,
            back_pressure=pressure,
            last_scale_up=self.scale_ups.get(key),
            history=self.loads.get(key),
            ready_at=self.ready_at(vertex),
        )
        decision = decide(observed)
        self.loads[key] = learn(observed.history, observed, decision)
        return decision, pressure

    def ready_at(self, vertex: Vertex) -> list[datetime] | None:
        """When each ready pod of the vertex became ready (None when a pod's time is unknown)."""
        times: list[datetime] = []
        for pod in self.pods.store.all():
            meta = pod.get("metadata") or {}
            labels = meta.get("labels") or {}
            if (
                meta.get("namespace") != vertex.namespace
                or labels.get(c.KEY_PIPELINE_NAME) != vertex.spec.pipeline_name
                or labels.get(c.KEY_VERTEX_NAME) != vertex.spec.get_name()
                or is_terminating(pod)
                or not is_pod_ready(pod)
            ):
                continue
            conditions = (pod.get("status") or {}).get("conditions") or []
            stamps = [cond.get("lastTransitionTime") for cond in conditions if cond.get("type") == "Ready"]
            at = parse_time(stamps[0] if stamps else None)
            if at is None:
                return None
            times.append(at)
        return times

    def daemon_url(self, pl: Pipeline) -> str | None:
        port = c.DAEMON_SERVICE_PORT
        if not self.local:
            return f"http://{pl.daemon_service_name()}.{pl.namespace}.svc:{port}"
        for pod in self.pods.store.all():
            meta = pod.get("metadata") or {}
            labels = meta.get("labels") or {}
            if (
                meta.get("namespace") == pl.namespace
                and labels.get(c.KEY_COMPONENT) == c.COMPONENT_DAEMON
                and labels.get(c.KEY_PIPELINE_NAME) == pl.name
                and not meta.get("deletionTimestamp")
                and is_pod_ready(pod)
            ):
                ip = pod_ip(pod)
                if ip:
                    return f"http://{ip}:{port}"
        return None

    async def _apply(
        self, key: str, raw: JSON, vertex: Vertex, decision: Decision, pressure: BackPressure | None
    ) -> None:
        fields = {
            "vertex": key,
            "decision": decision.reason,
            "current": decision.current,
            "replicas": decision.replicas,
            "model": decision.model.value if decision.model else None,
            "rate": f"{decision.rate:.3f}" if decision.rate is not None else None,
            "pending": decision.pending,
            "ackPending": decision.ack_pending,
            "ready": decision.ready,
            "formula": decision.formula,
            "floor": decision.floor,
            "capacity": f"{decision.capacity:.3f}" if decision.capacity is not None else None,
            "detail": decision.message or None,
            "downstream": f"{pressure.usage:.2f}" if pressure is not None and pressure.buffer else None,
        }
        if not decision.scales or decision.replicas is None:
            level = (
                logging.INFO if decision.rate is not None or decision.pending is not None else logging.DEBUG
            )
            log.log(level, kv("autoscaler skipped", **fields))
            return
        patch = {
            "metadata": {"resourceVersion": raw["metadata"].get("resourceVersion")},
            "spec": {"replicas": decision.replicas},
        }
        try:
            updated = await self.kube.patch(VERTEX, vertex.namespace, vertex.name, patch)
        except Exception as err:
            if is_conflict(err) or is_not_found(err):
                log.info(kv("autoscaler: vertex changed meanwhile; deciding again next visit", vertex=key))
                return
            raise
        self.vertices.record_write(updated)
        self.decisions += 1
        if decision.replicas > decision.current:
            self.scale_ups[key] = ScaleUp(
                decision.current, decision.replicas, decision.rate or 0.0, self.clock.now()
            )
        else:
            self.scale_ups.pop(key, None)
        log.info(kv("autoscaler scaled", **fields))
        self.recorder.normal(raw, decision.reason, decision.summary())


def setup(manager: Manager) -> None:
    """Register the autoscaler (unless ``NUMAFLUX_SCALE_INTERVAL`` is 0): every Vertex added is visited,
    and each visit schedules the next one."""
    interval = scale_interval()
    if interval <= 0:
        log.info(kv("autoscaler off", env=ENV_SCALE_INTERVAL))
        return
    for kind in (VERTEX, PIPELINE, POD):
        manager.informer(kind)
    scaler = Scaler(manager, interval)
    controller = manager.add(Controller(NAME, scaler, workers=4))
    controller.watch_primary(scaler.vertices, lambda old, new: old is None and new is not None)
