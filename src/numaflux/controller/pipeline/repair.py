"""Self-repair: consistency checks run on every reconcile, each fix paired with an Event saying what it did.

What is checked here, and what is not (because ``lifecycle.decide`` already converges it):

- desired Running, no pause marker, a vertex whose desiredPhase is Paused → set it Running. Nothing
  legitimate leaves that state behind: a resume patches the vertices *before* removing the marker.
- a vertex that is Paused, whose status shows the vertex controller has seen that (observedGeneration
  ≥ generation), yet still counts replicas or has live pods → reported, and the vertex re-queued so its
  controller removes the pods.
- a vertex whose status lags its spec (observedGeneration < generation) for longer than a threshold →
  reported and re-queued.
- Not here: a Running vertex while desired Paused with the marker present (the pause's drain/grace rule
  pauses it, with a ``RepairedVertexDesiredPhase`` Event once the pause had completed), and a marker
  present while desired Running (that is an unfinished resume, which ``decide`` completes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from numaflux.api import Pipeline, Vertex
from numaflux.api import constants as c
from numaflux.controller.pipeline.actions import NORMAL, WARNING, Event, LogLine, VertexPatch
from numaflux.controller.pipeline.build import pause_marker


@dataclass(frozen=True)
class RepairSettings:
    """``status_lag_seconds``: how long a vertex's status may trail its spec before it is reported."""

    status_lag_seconds: float = 30.0


@dataclass
class RepairDecision:
    """Fixes to apply, vertices whose reconcile to trigger again, and ``lagging_since`` to pass to the
    next call (first time each vertex was seen lagging)."""

    vertex_patches: list[VertexPatch] = field(default_factory=list)
    requeue_vertices: list[str] = field(default_factory=list)
    lagging_since: dict[str, datetime] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)


def _caught_up(v: Vertex) -> bool:
    status = v.status
    observed = (status.observed_generation if status else None) or 0
    return observed >= (v.metadata.generation or 0) and observed > 0


def check_consistency(
    pl: Pipeline,
    vertices: list[Vertex],
    *,
    live_pods: Mapping[str, int],
    lagging_since: Mapping[str, datetime],
    now: datetime,
    settings: RepairSettings = RepairSettings(),
) -> RepairDecision:
    """Find and fix drift. ``live_pods``: vertex object name → pods not being deleted."""
    out = RepairDecision()
    if pl.metadata.deletion_timestamp:
        return out
    steady_running = pl.get_desired_phase() == c.PipelinePhase.RUNNING.value and pause_marker(pl) is None
    for v in vertices:
        paused = v.spec.get_lifecycle().is_paused()
        if steady_running and paused:
            out.vertex_patches.append(VertexPatch(v.name, c.VertexPhase.RUNNING.value))
            out.events.append(
                Event(
                    WARNING,
                    "RepairedVertexDesiredPhase",
                    f"Vertex {v.name} was Paused while the pipeline "
                    "is Running with no pause in progress; set it Running",
                )
            )
            out.logs.append(
                LogLine(
                    "repair: vertex desired phase",
                    {"pipeline": pl.name, "vertex": v.name, "from": "Paused", "to": "Running"},
                )
            )
        status = v.status
        replicas = (status.replicas if status else None) or 0
        pods = live_pods.get(v.name, 0)
        if paused and _caught_up(v) and (replicas > 0 or pods > 0):
            out.requeue_vertices.append(v.name)
            out.events.append(
                Event(
                    WARNING,
                    "PodsLeftWhilePaused",
                    f"Vertex {v.name} is Paused but status.replicas="
                    f"{replicas} and {pods} pods remain; re-queued it so its pods are removed",
                )
            )
            out.logs.append(
                LogLine(
                    "repair: pods left while paused",
                    {"pipeline": pl.name, "vertex": v.name, "replicas": replicas, "pods": pods},
                )
            )
        generation = v.metadata.generation or 0
        observed = (status.observed_generation if status else None) or 0
        if observed < generation:
            since = lagging_since.get(v.name, now)
            lag = (now - since).total_seconds()
            if lag >= settings.status_lag_seconds:
                if v.name not in out.requeue_vertices:
                    out.requeue_vertices.append(v.name)
                out.events.append(
                    Event(
                        NORMAL,
                        "RepairedVertexStatusLag",
                        f"Vertex {v.name} status lags its spec "
                        f"(observedGeneration {observed} < generation {generation}) for {lag:.0f}s; "
                        "re-queued its reconcile",
                    )
                )
                out.logs.append(
                    LogLine(
                        "repair: vertex status lag",
                        {
                            "pipeline": pl.name,
                            "vertex": v.name,
                            "observed": observed,
                            "generation": generation,
                            "lag_seconds": round(lag, 3),
                        },
                    )
                )
                since = now  # report again only after another full threshold
            out.lagging_since[v.name] = since
    return out
