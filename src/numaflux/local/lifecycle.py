"""What `numaflux pause|resume|status` decide, apart from drawing: the patches, when a wait is done, the
vertex rows, the pipeline's lifecycle Events, and live buffer pending read straight from the ISB."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as kclient
from kubernetes_asyncio import config as kconfig
from nats.aio.client import Client as NATS

from numaflux.api import Pipeline
from numaflux.api import constants as c
from numaflux.controller.kube import EVENT, ISB_SERVICE, JSON, PIPELINE, VERTEX, KubeClient
from numaflux.daemon.buffers import list_pipeline_buffer_info
from numaflux.isb.connection import connect
from numaflux.isb.info import BufferInfo
from numaflux.local import paths

PAUSED, RUNNING = "Paused", "Running"
STRATEGIES = (c.RESUME_STRATEGY_FAST, c.RESUME_STRATEGY_SLOW)


def kubeconfig_file(directory: Path | None) -> str | None:
    """`--dir`'s kubeconfig; else the default local cluster's if it exists; else None ($KUBECONFIG)."""
    if directory is not None:
        return str(paths.kubeconfig_path(directory.expanduser().resolve()))
    local = paths.kubeconfig_path(paths.default_data_dir())
    return str(local) if local.exists() else None


async def open_client(directory: Path | None) -> kclient.ApiClient:
    """An API client for the local cluster (or $KUBECONFIG); raises ConfigException if there is none."""
    return await kconfig.new_client_from_config(config_file=kubeconfig_file(directory))


def pause_patch() -> JSON:
    """Ask for a pause with drain."""
    return {"spec": {"lifecycle": {"desiredPhase": PAUSED}}}


def resume_patch(strategy: str) -> JSON:
    """Ask for Running and set (slow) or remove (fast) the resume-strategy annotation, in one patch."""
    if strategy not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    annotation = c.RESUME_STRATEGY_SLOW if strategy == c.RESUME_STRATEGY_SLOW else None
    return {
        "metadata": {"annotations": {c.KEY_RESUME_STRATEGY: annotation}},
        "spec": {"lifecycle": {"desiredPhase": RUNNING}},
    }


def _annotations(obj: JSON) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def pause_marker(pl: JSON) -> str | None:
    """The durable pause marker (its timestamp), or None."""
    value = _annotations(pl).get(c.KEY_PAUSE_TIMESTAMP)
    return str(value) if value else None


def phase(obj: JSON) -> str:
    return str((obj.get("status") or {}).get("phase") or "Pending")


def desired_phase(obj: JSON) -> str:
    """`spec.lifecycle.desiredPhase`: anything other than Paused means Running."""
    value = ((obj.get("spec") or {}).get("lifecycle") or {}).get("desiredPhase")
    return PAUSED if value == PAUSED else RUNNING


def drained_on_pause(pl: JSON) -> bool | None:
    value = (pl.get("status") or {}).get("drainedOnPause")
    return None if value is None else bool(value)


def grace_seconds(pl: JSON) -> int:
    """The pipeline's pauseGracePeriodSeconds (its model's default when unset)."""
    return Pipeline.model_validate(copy.deepcopy(pl)).get_pause_grace_period_seconds()


@dataclass(frozen=True)
class VertexRow:
    """One vertex: what it is asked for and what it has."""

    name: str
    desired_phase: str
    phase: str
    spec_replicas: int | None
    desired: int
    current: int
    ready: int
    generation: int
    observed_generation: int

    @property
    def settled_running(self) -> bool:
        """Asked to run, status up to date with the spec, Running, and all desired pods ready."""
        return (
            self.desired_phase == RUNNING
            and self.observed_generation >= self.generation
            and self.phase == RUNNING
            and self.ready == self.desired
            and self.current == self.desired
        )


def vertex_rows(pl: JSON, vertices: list[JSON]) -> list[VertexRow]:
    """Rows for the pipeline's vertices, in the pipeline's own order (sources first)."""
    rows = []
    for v in vertices:
        meta, spec, status = v.get("metadata") or {}, v.get("spec") or {}, v.get("status") or {}
        replicas = spec.get("replicas")
        rows.append(
            VertexRow(
                name=str((meta.get("labels") or {}).get(c.KEY_VERTEX_NAME) or meta.get("name")),
                desired_phase=desired_phase(v),
                phase=phase(v),
                spec_replicas=None if replicas is None else int(replicas),
                desired=int(status.get("desiredReplicas") or 0),
                current=int(status.get("replicas") or 0),
                ready=int(status.get("readyReplicas") or 0),
                generation=int(meta.get("generation") or 0),
                observed_generation=int(status.get("observedGeneration") or 0),
            )
        )
    order = [str(v.get("name")) for v in (pl.get("spec") or {}).get("vertices") or []]
    return sorted(rows, key=lambda r: (order.index(r.name) if r.name in order else len(order), r.name))


def is_paused(pl: JSON) -> bool:
    """A pause finished: phase Paused and the marker set (a stale Paused phase alone is not enough)."""
    return phase(pl) == PAUSED and pause_marker(pl) is not None


def is_resumed(pl: JSON, rows: list[VertexRow]) -> bool:
    """A resume finished: marker gone, phase Running, every vertex Running with all its pods ready."""
    return (
        pause_marker(pl) is None
        and phase(pl) == RUNNING
        and bool(rows)
        and all(r.settled_running for r in rows)
    )


def event_time(event: JSON) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def pipeline_events(events: list[JSON], pipeline: str, limit: int = 20) -> list[JSON]:
    """The pipeline's own Events (not its vertices' or pods'), oldest first, the last `limit` of them."""
    mine = [
        e
        for e in events
        if (e.get("involvedObject") or {}).get("name") == pipeline
        and (e.get("involvedObject") or {}).get("kind") in (None, "Pipeline")
    ]
    return sorted(mine, key=event_time)[-limit:]


async def get_pipeline(kube: KubeClient, namespace: str, name: str) -> JSON:
    return await kube.get(PIPELINE, namespace, name)


async def list_vertices(kube: KubeClient, namespace: str, pipeline: str) -> list[JSON]:
    selector = f"{c.KEY_PIPELINE_NAME}={pipeline}"
    items = (await kube.list(VERTEX, namespace, labelSelector=selector)).get("items") or []
    return list(items)


async def list_events(kube: KubeClient, namespace: str, pipeline: str) -> list[JSON]:
    items = (await kube.list(EVENT, namespace)).get("items") or []
    return pipeline_events(list(items), pipeline)


class BufferReader:
    """Pending and ack-pending per buffer of a pipeline, read from its ISB service's JetStream."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.nc: NATS | None = None

    async def read(self, pl: JSON) -> list[BufferInfo]:
        model = Pipeline.model_validate(copy.deepcopy(pl))
        if self.nc is None:
            namespace = str((pl.get("metadata") or {}).get("namespace") or "default")
            isb = await self.kube.get(ISB_SERVICE, namespace, model.get_isb_service_name())
            url = (((isb.get("status") or {}).get("config") or {}).get("jetstream") or {}).get("url")
            if not url:
                raise RuntimeError(
                    f"InterStepBufferService {namespace}/{model.get_isb_service_name()} has no JetStream URL"
                )
            self.nc = await connect(str(url), name="numaflux-cli", connect_timeout=2.0)
        return await list_pipeline_buffer_info(self.nc.jetstream(), model)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None
