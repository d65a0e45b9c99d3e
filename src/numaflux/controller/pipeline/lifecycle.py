"""Pause, resume and delete: the Pipeline lifecycle as one pure state machine (``decide``).

Inputs are what a reconcile observes — the Pipeline, its Vertex objects, whether any source pod still
exists, the buffer infos (or why they are unavailable) and the clock. The durable state is the
``numaflow.numaproj.io/pause-timestamp`` annotation (the *marker*): set when a pause starts, removed as
the last step of a resume. ``status.phase`` is never an input to a decision, so a phase that turned
Failed during an ISB outage cannot stop a resume (NumaFlow #2331).

    deleting                        → sources Paused, drain ≤ deletion grace → clean up, release finalizer
    desired Paused, no marker       → sources Paused, set marker, Pausing
    desired Paused, marker          → drained (no source pods, every buffer 0 pending/ackPending)
                                      or grace from the marker expired → all Paused, Paused,
                                      drainedOnPause = drained; otherwise Pausing, check again shortly
    desired Running, marker         → every paused vertex Running (slow: spec.replicas removed),
                                      then remove the marker; Running, drainedOnPause false
    desired Running, no marker      → Running

Apply a decision in this order, stopping at the first failure (the next reconcile recomputes):
vertex patches → pipeline annotation patch and status (together) → cleanup. Patching vertices before the
marker means "marker present" ⇔ "pause started and resume not finished", whatever was cut off. The
status may land before or after the marker: no decision reads its phase, and ``drainedOnPause`` is read
only once every vertex is Paused, which a pass that writes the marker (a pause beginning: sources only;
a resume ending: all Running) never leaves behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from numaflux.api import Pipeline, PipelineStatus, Vertex
from numaflux.api import constants as c
from numaflux.api.status import format_time
from numaflux.controller.pipeline.actions import NORMAL, WARNING, Event, LogLine, VertexPatch
from numaflux.controller.pipeline.build import pause_marker
from numaflux.isb.info import BufferInfo

FINALIZER = "numaflow.numaproj.io/pipeline-controller"

MESSAGE_PAUSING = "Pausing in progress"
MESSAGE_PAUSED = "Pipeline paused"
MESSAGE_DELETING = "Deleting in progress"

RUNNING = c.VertexPhase.RUNNING.value
PAUSED = c.VertexPhase.PAUSED.value


@dataclass(frozen=True)
class LifecycleSettings:
    """``drain_poll_seconds``: how soon to look again while draining (pod and vertex changes also
    trigger a reconcile, so this only bounds the delay after the last buffer empties)."""

    drain_poll_seconds: float = 1.0


@dataclass(frozen=True)
class Cleanup:
    """Delete these ISB resources (skip when the ISB service is gone), then remove ``FINALIZER``."""

    buffers: list[str]
    buckets: list[str]
    side_inputs_store: str | None


@dataclass
class LifecycleDecision:
    """What to do. ``None`` fields mean "leave as is"; ``annotations`` is a merge patch (None = remove)."""

    vertex_patches: list[VertexPatch] = field(default_factory=list)
    annotations: dict[str, str | None] = field(default_factory=dict)
    phase: c.PipelinePhase | None = None
    message: str | None = None
    drained_on_pause: bool | None = None
    events: list[Event] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    requeue_after: float | None = None
    cleanup: Cleanup | None = None

    def annotation_patch(self) -> dict[str, Any] | None:
        """The merge patch for the Pipeline's metadata, or None."""
        return {"metadata": {"annotations": dict(self.annotations)}} if self.annotations else None

    def apply_to_status(self, status: PipelineStatus) -> None:
        """Write phase, message and drainedOnPause into ``status`` (in place)."""
        if self.phase is not None:
            status.phase = self.phase.value
        if self.message is not None:
            status.message = self.message
        if self.drained_on_pause is not None:
            status.drained_on_pause = self.drained_on_pause


# --- drain ------------------------------------------------------------------------------------------


class NotRead:
    """The type of ``NOT_READ``."""

    def __repr__(self) -> str:
        return "NOT_READ"


NOT_READ = NotRead()
"""``buffers`` value meaning "not read yet": ``decide`` raises ``BuffersNeeded`` if it has to look."""

Buffers = dict[str, BufferInfo] | None | NotRead
"""Buffer infos by name; None = unavailable (an error says why); ``NOT_READ`` = not fetched."""


class BuffersNeeded(Exception):
    """``decide`` needs the buffer infos it was given as ``NOT_READ``: read them and decide again.

    Reading pending counts costs a round trip per buffer, and only a drain in progress (pausing or
    deleting) looks at them, so a reconcile tries without them first."""


@dataclass(frozen=True)
class DrainCheck:
    """Whether the pipeline is drained, and if not, what still holds messages."""

    source_pods_running: bool
    holding: tuple[BufferInfo, ...] = ()
    unknown: tuple[str, ...] = ()
    error: str | None = None
    zero_pod_readers: dict[str, str] = field(default_factory=dict)

    @property
    def drained(self) -> bool:
        return not self.source_pods_running and self.error is None and not self.holding and not self.unknown

    def describe(self) -> str:
        """Human-readable reasons it is not drained ("drained" when it is)."""
        parts: list[str] = []
        if self.source_pods_running:
            parts.append("source pods still running")
        if self.error is not None:
            parts.append(f"buffer info unavailable: {self.error}")
        for info in self.holding:
            text = f"{info.buffer} holds pending={info.pending} ackPending={info.ack_pending}"
            reader = self.zero_pod_readers.get(info.buffer)
            if reader:
                text += f" (its reader {reader} runs 0 pods, so it cannot drain)"
            parts.append(text)
        parts += [f"{name}: no buffer info" for name in self.unknown]
        return "; ".join(parts) or "drained"


def check_drain(
    pl: Pipeline,
    vertices: list[Vertex],
    source_pods_running: bool,
    buffers: Buffers,
    buffers_error: str | None,
) -> DrainCheck:
    """Drained = no source pod left and every pipeline buffer has 0 pending and 0 ackPending.

    ``buffers`` None means unavailable (``buffers_error`` says why); a pipeline buffer missing from the
    map cannot be shown empty and counts as not drained; ``NOT_READ`` raises ``BuffersNeeded``.
    """
    if isinstance(buffers, NotRead):
        raise BuffersNeeded
    readers = {b: v.name for v in vertices if v.calculate_replicas() == 0 for b in v.owned_buffer_names()}
    if buffers is None:
        return DrainCheck(
            source_pods_running, error=buffers_error or "no buffer info", zero_pod_readers=readers
        )
    names = pl.all_buffers()
    return DrainCheck(
        source_pods_running,
        holding=tuple(buffers[b] for b in names if b in buffers and not buffers[b].is_drained),
        unknown=tuple(b for b in names if b not in buffers),
        zero_pod_readers=readers,
    )


# --- helpers ----------------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """RFC 3339 (``Z`` or an offset) → aware datetime; None if absent or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _phase_of(v: Vertex) -> str:
    return v.spec.get_lifecycle().get_desired_phase()


def _set_phase(vertices: list[Vertex], phase: str, remove_replicas: bool = False) -> list[VertexPatch]:
    return [VertexPatch(v.name, phase, remove_replicas) for v in vertices if _phase_of(v) != phase]


def _patch_events(patches: list[VertexPatch], by_name: dict[str, Vertex], reason: str) -> list[Event]:
    return [
        Event(
            NORMAL,
            reason,
            f"Vertex {p.vertex}: desired phase {_phase_of(by_name[p.vertex])} → {p.desired_phase}",
        )
        for p in patches
    ]


def replicas_after_resume(v: Vertex, slow: bool) -> int:
    """The pods ``v`` runs once Running: fast keeps ``spec.replicas``, slow drops it (→ 1 → clamp)."""
    resumed = v.model_copy(deep=True)
    resumed.spec.lifecycle = resumed.spec.get_lifecycle().model_copy(update={"desired_phase": RUNNING})
    if slow:
        resumed.spec.replicas = None
    return resumed.calculate_replicas()


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


# --- the state machine -------------------------------------------------------------------------------


def decide(
    pl: Pipeline,
    vertices: list[Vertex],
    *,
    source_pods_running: bool,
    buffers: Buffers,
    now: datetime,
    buffers_error: str | None = None,
    settings: LifecycleSettings = LifecycleSettings(),
) -> LifecycleDecision:
    """The lifecycle step for this reconcile (see the module docstring for the whole machine).

    Raises ``BuffersNeeded`` when the step depends on ``buffers`` and they are ``NOT_READ``."""
    if pl.metadata.deletion_timestamp:
        check = check_drain(pl, vertices, source_pods_running, buffers, buffers_error)
        return _delete(pl, vertices, check, now, settings)
    marker = pause_marker(pl)
    if pl.get_desired_phase() == c.PipelinePhase.PAUSED.value:
        if marker is None:
            return _begin_pause(pl, vertices, now, settings)
        return _continue_pause(
            pl,
            vertices,
            marker,
            lambda: check_drain(pl, vertices, source_pods_running, buffers, buffers_error),
            now,
            settings,
        )
    if marker is not None:
        return _resume(pl, vertices)
    return LifecycleDecision(
        phase=c.PipelinePhase.RUNNING,
        logs=[LogLine("running", {"pipeline": pl.name, "desired": "Running", "marker": None}, "debug")],
    )


def _begin_pause(
    pl: Pipeline, vertices: list[Vertex], now: datetime, settings: LifecycleSettings, invalid: str = ""
) -> LifecycleDecision:
    """Sources first: they stop reading, then the marker starts the grace period."""
    sources = [v for v in vertices if v.is_source()]
    patches = _set_phase(sources, PAUSED)
    stamp = format_time(now)
    grace = pl.get_pause_grace_period_seconds()
    by_name = {v.name: v for v in vertices}
    events = []
    if invalid:
        events.append(
            Event(
                WARNING,
                "InvalidPauseTimestamp",
                f"{c.KEY_PAUSE_TIMESTAMP}={invalid!r} is not RFC 3339; restarting the pause at {stamp}",
            )
        )
    names = ", ".join(v.name for v in sources) or "none"
    events.append(
        Event(
            NORMAL,
            "PausingPipeline",
            f"Pause started at {stamp}: sources [{names}] set Paused; draining for up to {grace}s",
        )
    )
    events += _patch_events(patches, by_name, "UpdateVertexDesiredPhase")
    return LifecycleDecision(
        vertex_patches=patches,
        annotations={c.KEY_PAUSE_TIMESTAMP: stamp},
        phase=c.PipelinePhase.PAUSING,
        message=MESSAGE_PAUSING,
        drained_on_pause=False,
        events=events,
        logs=[
            LogLine(
                "pause started",
                {
                    "pipeline": pl.name,
                    "pause_timestamp": stamp,
                    "grace_seconds": grace,
                    "sources_paused": names,
                },
            )
        ],
        requeue_after=settings.drain_poll_seconds,
    )


def _continue_pause(
    pl: Pipeline,
    vertices: list[Vertex],
    marker: str,
    drain: Callable[[], DrainCheck],
    now: datetime,
    settings: LifecycleSettings,
) -> LifecycleDecision:
    """``drain`` is called only past the completed-pause check: a finished pause reads no buffers."""
    started = parse_time(marker)
    if started is None:
        return _begin_pause(pl, vertices, now, settings, invalid=marker)
    status = pl.status or PipelineStatus()
    grace = pl.get_pause_grace_period_seconds()
    deadline = started + timedelta(seconds=grace)
    by_name = {v.name: v for v in vertices}
    if all(_phase_of(v) == PAUSED for v in vertices) and status.drained_on_pause is True:
        return LifecycleDecision(
            phase=c.PipelinePhase.PAUSED,
            message=MESSAGE_PAUSED,
            drained_on_pause=True,
            logs=[
                LogLine("paused", {"pipeline": pl.name, "pause_timestamp": marker, "drained": True}, "debug")
            ],
        )
    check = drain()
    # Sources are paused before the marker is written; re-assert it in case that was undone.
    source_patches = _set_phase([v for v in vertices if v.is_source()], PAUSED)
    fields: dict[str, Any] = {
        "pipeline": pl.name,
        "pause_timestamp": marker,
        "grace_seconds": grace,
        "source_pods_running": check.source_pods_running,
        "holding": ",".join(f"{i.buffer}:{i.pending}/{i.ack_pending}" for i in check.holding) or None,
        "buffers_error": check.error,
    }
    if not check.drained and now < deadline:
        left = _seconds(deadline - now)
        events = _patch_events(source_patches, by_name, "RepairedVertexDesiredPhase")
        events.append(
            Event(
                NORMAL,
                "WaitingForDrain",
                f"Waiting for drain, {left:.0f}s of {grace}s grace left: {check.describe()}",
            )
        )
        return LifecycleDecision(
            vertex_patches=source_patches,
            phase=c.PipelinePhase.PAUSING,
            message=MESSAGE_PAUSING,
            events=events,
            logs=[LogLine("pause: waiting for drain", {**fields, "grace_left_seconds": round(left, 3)})],
            requeue_after=min(settings.drain_poll_seconds, left),
        )
    others = _set_phase([v for v in vertices if not v.is_source()], PAUSED)
    patches = source_patches + others
    drained = check.drained
    # The phase only chooses the wording: vertices found Running after the pause had completed were
    # set back by hand or by an old controller, so say "repaired".
    was_paused = status.phase == c.PipelinePhase.PAUSED.value
    events = _patch_events(
        patches, by_name, "RepairedVertexDesiredPhase" if was_paused else "UpdateVertexDesiredPhase"
    )
    changed = (
        bool(patches) or status.drained_on_pause != drained or status.phase == c.PipelinePhase.PAUSING.value
    )
    if changed:
        elapsed = _seconds(now - started)
        if drained:
            events.append(
                Event(
                    NORMAL,
                    "PipelinePaused",
                    f"Pipeline paused, drained: {len(pl.all_buffers())} buffers "
                    f"empty and no source pods, {elapsed:.0f}s after the pause started",
                )
            )
        else:
            events.append(
                Event(
                    WARNING,
                    "PauseTimedOut",
                    f"Pipeline paused without drain: grace period {grace}s from "
                    f"{marker} expired; {check.describe()}",
                )
            )
    return LifecycleDecision(
        vertex_patches=patches,
        phase=c.PipelinePhase.PAUSED,
        message=MESSAGE_PAUSED,
        drained_on_pause=drained,
        events=events,
        logs=[
            LogLine(
                "pause: all vertices paused", {**fields, "drained": drained}, "info" if changed else "debug"
            )
        ],
    )


def _resume(pl: Pipeline, vertices: list[Vertex]) -> LifecycleDecision:
    """Every paused vertex back to Running, then the marker goes (it is the resume's completion)."""
    slow = pl.metadata.annotation(c.KEY_RESUME_STRATEGY) == c.RESUME_STRATEGY_SLOW
    strategy = c.RESUME_STRATEGY_SLOW if slow else c.RESUME_STRATEGY_FAST
    patches = _set_phase(vertices, RUNNING, remove_replicas=slow)
    by_name = {v.name: v for v in vertices}
    restored = {p.vertex: replicas_after_resume(by_name[p.vertex], slow) for p in patches}
    events = [
        Event(
            NORMAL,
            "ResumeVertexLifecycle",
            f"Resumed vertex {name}: desired phase Paused → Running, strategy {strategy}, "
            f"replicas {n}" + (" (spec.replicas removed)" if slow else ""),
        )
        for name, n in restored.items()
    ]
    summary = ", ".join(f"{name}={n}" for name, n in restored.items()) or "none was paused"
    events.append(Event(NORMAL, "PipelineResumed", f"Pipeline resumed with strategy {strategy}: {summary}"))
    return LifecycleDecision(
        vertex_patches=patches,
        annotations={c.KEY_PAUSE_TIMESTAMP: None},
        phase=c.PipelinePhase.RUNNING,
        message="",
        drained_on_pause=False,
        events=events,
        logs=[LogLine("resume", {"pipeline": pl.name, "strategy": strategy, "replicas": summary})],
    )


def _delete(
    pl: Pipeline, vertices: list[Vertex], check: DrainCheck, now: datetime, settings: LifecycleSettings
) -> LifecycleDecision:
    """Deleting: sources Paused, drain until the deletion grace period, then clean up and let go."""
    grace = pl.get_termination_grace_period_seconds()
    started = parse_time(pl.metadata.deletion_timestamp) or now
    deadline = started + timedelta(seconds=grace)
    fields: dict[str, Any] = {"pipeline": pl.name, "grace_seconds": grace, "drain": check.describe()}
    if now < deadline:
        by_name = {v.name: v for v in vertices}
        patches = _set_phase([v for v in vertices if v.is_source()], PAUSED)
        if patches or not check.drained:
            left = _seconds(deadline - now)
            events = _patch_events(patches, by_name, "UpdateVertexDesiredPhase")
            events.append(
                Event(
                    NORMAL,
                    "DeletingWaitingForDrain",
                    f"Deleting: waiting for drain, {left:.0f}s of {grace}s grace left: {check.describe()}",
                )
            )
            return LifecycleDecision(
                vertex_patches=patches,
                phase=c.PipelinePhase.DELETING,
                message=MESSAGE_DELETING,
                events=events,
                logs=[LogLine("delete: waiting for drain", {**fields, "grace_left_seconds": round(left, 3)})],
                requeue_after=min(settings.drain_poll_seconds, left),
            )
        event = Event(NORMAL, "DeletingDrained", "Pipeline drained; deleting its buffers and buckets")
    else:
        event = Event(
            WARNING,
            "DeleteTimedOut",
            f"Deletion grace period {grace}s expired before the drain: "
            f"{check.describe()}; deleting buffers and buckets anyway",
        )
    cleanup = Cleanup(
        buffers=pl.all_buffers(),
        buckets=pl.all_buckets(),
        side_inputs_store=pl.side_inputs_store_name() if pl.spec.side_inputs else None,
    )
    return LifecycleDecision(
        phase=c.PipelinePhase.DELETING,
        message=MESSAGE_DELETING,
        events=[event],
        logs=[LogLine("delete: cleaning up", {**fields, "drained": check.drained})],
        cleanup=cleanup,
    )
