"""The pause / resume / delete state machine (reference §3.5-3.9 and issue 6), as a table and as cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from numaflux.api import Pipeline, PipelineStatus, Vertex, VertexLifecycle
from numaflux.api import constants as c
from numaflux.api.status import format_time
from numaflux.controller.pipeline.actions import VertexPatch
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.pipeline.lifecycle import (
    FINALIZER,
    NOT_READ,
    Buffers,
    BuffersNeeded,
    LifecycleDecision,
    LifecycleSettings,
    check_drain,
    decide,
    parse_time,
    replicas_after_resume,
)
from numaflux.isb.info import BufferInfo

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MARKER = format_time(T0)
BUF_CAT = "ns-pl-cat-0"
BUF_OUT = "ns-pl-out-0"


def pipeline(
    desired: str | None = None,
    marker: str | None = None,
    phase: str | None = None,
    strategy: str | None = None,
    drained_on_pause: bool | None = None,
    cat_scale: dict[str, int] | None = None,
    deletion: str | None = None,
    grace: int | None = None,
) -> Pipeline:
    annotations = {}
    if marker is not None:
        annotations[c.KEY_PAUSE_TIMESTAMP] = marker
    if strategy is not None:
        annotations[c.KEY_RESUME_STRATEGY] = strategy
    lifecycle: dict[str, Any] = {}
    if desired is not None:
        lifecycle["desiredPhase"] = desired
    if grace is not None:
        lifecycle["pauseGracePeriodSeconds"] = grace
        lifecycle["deletionGracePeriodSeconds"] = grace
    doc: dict[str, Any] = {
        "metadata": {"name": "pl", "namespace": "ns", "uid": "pl-uid", "annotations": annotations},
        "spec": {
            "lifecycle": lifecycle,
            "vertices": [
                {"name": "in", "source": {"generator": {}}},
                {
                    "name": "cat",
                    "udf": {"container": {"image": "cat"}},
                    "scale": cat_scale or {"min": 1, "max": 5},
                },
                {"name": "out", "sink": {"log": {}}, "scale": {"min": 1, "max": 3}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
        "status": {"phase": phase, "drainedOnPause": drained_on_pause},
    }
    if deletion is not None:
        doc["metadata"]["deletionTimestamp"] = deletion
        doc["metadata"]["finalizers"] = [FINALIZER]
    return Pipeline.model_validate(doc)


def vertices(
    pl: Pipeline, phases: dict[str, str], replicas: dict[str, int | None] | None = None
) -> list[Vertex]:
    out = build_vertices(pl)
    for v in out:
        v.spec.lifecycle = VertexLifecycle(desired_phase=phases.get(v.spec.get_name(), "Running"))
        if replicas and v.spec.get_name() in replicas:
            v.spec.replicas = replicas[v.spec.get_name()]
    return out


def info(name: str, pending: int = 0, ack: int = 0) -> BufferInfo:
    return BufferInfo(name, pending, ack, pending + ack, 30000, 0.8)


EMPTY = {BUF_CAT: info(BUF_CAT), BUF_OUT: info(BUF_OUT)}
HOLDING = {BUF_CAT: info(BUF_CAT, 7, 2), BUF_OUT: info(BUF_OUT)}
ALL_RUNNING: dict[str, str] = {}
SOURCES_PAUSED = {"in": "Paused"}
ALL_PAUSED = {"in": "Paused", "cat": "Paused", "out": "Paused"}


def patches(*items: tuple[str, str] | tuple[str, str, bool]) -> list[VertexPatch]:
    return [VertexPatch(f"pl-{i[0]}", i[1], bool(i[2]) if len(i) > 2 else False) for i in items]  # type: ignore[misc]


@dataclass
class Row:
    """One state-machine row: inputs and the decision they must produce."""

    name: str
    pl: dict[str, Any]
    phases: dict[str, str]
    buffers: dict[str, BufferInfo] | None
    now: datetime
    expect_patches: list[VertexPatch]
    expect_phase: str
    expect_annotations: dict[str, str | None] = field(default_factory=dict)
    expect_drained: bool | None = None
    expect_requeue: float | None = None
    expect_reasons: tuple[str, ...] = ()
    source_pods: bool = False
    buffers_error: str | None = None
    expect_cleanup: bool = False


ROWS = [
    Row(
        "running pipeline with no marker stays Running and touches nothing",
        {"desired": "Running"},
        ALL_RUNNING,
        EMPTY,
        T0,
        [],
        "Running",
    ),
    Row(
        "an invalid desired phase means Running",
        {"desired": "Pausing"},
        ALL_RUNNING,
        EMPTY,
        T0,
        [],
        "Running",
    ),
    Row(
        "pause request pauses sources first and writes the marker",
        {"desired": "Paused"},
        ALL_RUNNING,
        HOLDING,
        T0,
        patches(("in", "Paused")),
        "Pausing",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: MARKER},
        expect_drained=False,
        expect_requeue=1.0,
        expect_reasons=("PausingPipeline", "UpdateVertexDesiredPhase"),
        source_pods=True,
    ),
    Row(
        "pausing with a buffer still holding messages keeps waiting and checks again in a second",
        {"desired": "Paused", "marker": MARKER},
        SOURCES_PAUSED,
        HOLDING,
        T0 + timedelta(seconds=5),
        [],
        "Pausing",
        expect_requeue=1.0,
        expect_reasons=("WaitingForDrain",),
    ),
    Row(
        "pausing while source pods still exist is not drained even with empty buffers",
        {"desired": "Paused", "marker": MARKER},
        SOURCES_PAUSED,
        EMPTY,
        T0 + timedelta(seconds=5),
        [],
        "Pausing",
        expect_requeue=1.0,
        expect_reasons=("WaitingForDrain",),
        source_pods=True,
    ),
    Row(
        "the requeue never overshoots the grace deadline",
        {"desired": "Paused", "marker": MARKER},
        SOURCES_PAUSED,
        HOLDING,
        T0 + timedelta(seconds=29.5),
        [],
        "Pausing",
        expect_requeue=0.5,
        expect_reasons=("WaitingForDrain",),
    ),
    Row(
        "drained pipeline pauses every vertex with drainedOnPause true",
        {"desired": "Paused", "marker": MARKER, "phase": "Pausing"},
        SOURCES_PAUSED,
        EMPTY,
        T0 + timedelta(seconds=3),
        patches(("cat", "Paused"), ("out", "Paused")),
        "Paused",
        expect_drained=True,
        expect_reasons=("UpdateVertexDesiredPhase", "UpdateVertexDesiredPhase", "PipelinePaused"),
    ),
    Row(
        "grace period expired pauses every vertex without drain",
        {"desired": "Paused", "marker": MARKER, "phase": "Pausing"},
        SOURCES_PAUSED,
        HOLDING,
        T0 + timedelta(seconds=30),
        patches(("cat", "Paused"), ("out", "Paused")),
        "Paused",
        expect_drained=False,
        expect_reasons=("UpdateVertexDesiredPhase", "UpdateVertexDesiredPhase", "PauseTimedOut"),
    ),
    Row(
        "buffer info unavailable keeps the pause waiting before the grace deadline",
        {"desired": "Paused", "marker": MARKER},
        SOURCES_PAUSED,
        None,
        T0 + timedelta(seconds=10),
        [],
        "Pausing",
        expect_requeue=1.0,
        expect_reasons=("WaitingForDrain",),
        buffers_error="daemon unreachable",
    ),
    Row(
        "buffer info unavailable at the grace deadline pauses without drain",
        {"desired": "Paused", "marker": MARKER, "phase": "Pausing"},
        SOURCES_PAUSED,
        None,
        T0 + timedelta(seconds=31),
        patches(("cat", "Paused"), ("out", "Paused")),
        "Paused",
        expect_drained=False,
        expect_reasons=("UpdateVertexDesiredPhase", "UpdateVertexDesiredPhase", "PauseTimedOut"),
        buffers_error="daemon unreachable",
    ),
    Row(
        "a paused and drained pipeline stays paused with nothing to do",
        {"desired": "Paused", "marker": MARKER, "drained_on_pause": True},
        ALL_PAUSED,
        EMPTY,
        T0 + timedelta(hours=5),
        [],
        "Paused",
        expect_drained=True,
    ),
    Row(
        "a paused pipeline that timed out stays paused quietly",
        {"desired": "Paused", "marker": MARKER, "drained_on_pause": False, "phase": "Paused"},
        ALL_PAUSED,
        HOLDING,
        T0 + timedelta(hours=5),
        [],
        "Paused",
        expect_drained=False,
    ),
    Row(
        "resume from Paused sets every vertex Running and removes the marker last",
        {"desired": "Running", "marker": MARKER, "phase": "Paused"},
        ALL_PAUSED,
        None,
        T0,
        patches(("in", "Running"), ("cat", "Running"), ("out", "Running")),
        "Running",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: None},
        expect_drained=False,
        expect_reasons=("ResumeVertexLifecycle",) * 3 + ("PipelineResumed",),
    ),
    Row(
        "resume of a pipeline whose phase went Failed still restores every vertex (#2331)",
        {"desired": "Running", "marker": MARKER, "phase": "Failed"},
        ALL_PAUSED,
        None,
        T0,
        patches(("in", "Running"), ("cat", "Running"), ("out", "Running")),
        "Running",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: None},
        expect_drained=False,
        expect_reasons=("ResumeVertexLifecycle",) * 3 + ("PipelineResumed",),
    ),
    Row(
        "resume during Pausing brings the paused sources back",
        {"desired": "Running", "marker": MARKER, "phase": "Pausing"},
        SOURCES_PAUSED,
        HOLDING,
        T0,
        patches(("in", "Running")),
        "Running",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: None},
        expect_drained=False,
        expect_reasons=("ResumeVertexLifecycle", "PipelineResumed"),
    ),
    Row(
        "slow resume also removes spec.replicas of each resumed vertex",
        {"desired": "Running", "marker": MARKER, "strategy": "slow"},
        ALL_PAUSED,
        None,
        T0,
        patches(("in", "Running", True), ("cat", "Running", True), ("out", "Running", True)),
        "Running",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: None},
        expect_drained=False,
        expect_reasons=("ResumeVertexLifecycle",) * 3 + ("PipelineResumed",),
    ),
    Row(
        "created with desiredPhase Paused starts the pause with nothing to patch",
        {"desired": "Paused"},
        ALL_PAUSED,
        EMPTY,
        T0,
        [],
        "Pausing",
        expect_annotations={c.KEY_PAUSE_TIMESTAMP: MARKER},
        expect_drained=False,
        expect_requeue=1.0,
        expect_reasons=("PausingPipeline",),
    ),
    Row(
        "created Paused reaches Paused with drainedOnPause true once its empty buffers are seen",
        {"desired": "Paused", "marker": MARKER, "phase": "Pausing", "drained_on_pause": False},
        ALL_PAUSED,
        EMPTY,
        T0 + timedelta(seconds=1),
        [],
        "Paused",
        expect_drained=True,
        expect_reasons=("PipelinePaused",),
    ),
    Row(
        "deleting pauses the sources first",
        {"desired": "Running", "deletion": MARKER},
        ALL_RUNNING,
        EMPTY,
        T0 + timedelta(seconds=1),
        patches(("in", "Paused")),
        "Deleting",
        expect_requeue=1.0,
        expect_reasons=("UpdateVertexDesiredPhase", "DeletingWaitingForDrain"),
        source_pods=True,
    ),
    Row(
        "deleting waits for the drain within the grace period",
        {"desired": "Running", "deletion": MARKER},
        SOURCES_PAUSED,
        HOLDING,
        T0 + timedelta(seconds=2),
        [],
        "Deleting",
        expect_requeue=1.0,
        expect_reasons=("DeletingWaitingForDrain",),
    ),
    Row(
        "deleting a drained pipeline cleans up and releases the finalizer",
        {"desired": "Running", "deletion": MARKER},
        SOURCES_PAUSED,
        EMPTY,
        T0 + timedelta(seconds=2),
        [],
        "Deleting",
        expect_reasons=("DeletingDrained",),
        expect_cleanup=True,
    ),
    Row(
        "deleting past the grace period cleans up even when not drained",
        {"desired": "Running", "deletion": MARKER},
        SOURCES_PAUSED,
        HOLDING,
        T0 + timedelta(seconds=30),
        [],
        "Deleting",
        expect_reasons=("DeleteTimedOut",),
        expect_cleanup=True,
    ),
    Row(
        "deleting a paused pipeline drains and cleans up",
        {"desired": "Paused", "marker": MARKER, "deletion": MARKER},
        ALL_PAUSED,
        EMPTY,
        T0,
        [],
        "Deleting",
        expect_reasons=("DeletingDrained",),
        expect_cleanup=True,
    ),
]


def run(row: Row, phase: str | None = None) -> LifecycleDecision:
    kwargs = dict(row.pl)
    if phase is not None:
        kwargs["phase"] = phase
    pl = pipeline(**kwargs)
    return decide(
        pl,
        vertices(pl, row.phases),
        source_pods_running=row.source_pods,
        buffers=row.buffers,
        buffers_error=row.buffers_error,
        now=row.now,
    )


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_state_machine_row(row: Row) -> None:
    d = run(row)
    assert d.vertex_patches == row.expect_patches
    assert d.phase is not None and d.phase.value == row.expect_phase
    assert d.annotations == row.expect_annotations
    assert d.drained_on_pause == row.expect_drained
    assert d.requeue_after == row.expect_requeue
    assert tuple(e.reason for e in d.events) == row.expect_reasons
    assert (d.cleanup is not None) == row.expect_cleanup
    assert d.logs, "every decision is logged with its inputs"


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.parametrize("phase", ["", "Running", "Failed", "Pausing", "Paused", "Deleting"])
def test_no_row_depends_on_status_phase(row: Row, phase: str) -> None:
    base, scrambled = run(row), run(row, phase)
    assert scrambled.vertex_patches == base.vertex_patches
    assert scrambled.annotations == base.annotations
    assert scrambled.phase == base.phase
    assert scrambled.drained_on_pause == base.drained_on_pause
    assert scrambled.requeue_after == base.requeue_after
    assert (scrambled.cleanup is None) == (base.cleanup is None)


def test_waiting_event_names_each_buffer_and_the_grace_left() -> None:
    pl = pipeline(desired="Paused", marker=MARKER)
    d = decide(
        pl,
        vertices(pl, SOURCES_PAUSED),
        source_pods_running=False,
        buffers=HOLDING,
        now=T0 + timedelta(seconds=12),
    )
    (event,) = d.events
    assert event.message == (
        f"Waiting for drain, 18s of 30s grace left: {BUF_CAT} holds pending=7 ackPending=2"
    )
    assert d.logs[0].fields["holding"] == f"{BUF_CAT}:7/2"
    assert d.logs[0].fields["grace_left_seconds"] == 18.0


def test_timeout_event_names_the_buffers_that_still_held_messages() -> None:
    pl = pipeline(desired="Paused", marker=MARKER, phase="Pausing")
    d = decide(
        pl,
        vertices(pl, SOURCES_PAUSED),
        source_pods_running=False,
        buffers=HOLDING,
        now=T0 + timedelta(seconds=45),
    )
    timeout = d.events[-1]
    assert timeout.type == "Warning"
    assert timeout.message == (
        f"Pipeline paused without drain: grace period 30s from {MARKER} expired; "
        f"{BUF_CAT} holds pending=7 ackPending=2"
    )


def test_a_vertex_with_zero_pods_and_a_backlog_is_reported_and_times_out_at_grace() -> None:
    """#2535: cat has min=max=0, so its buffer can never drain; the pause names it and ends at grace."""
    pl = pipeline(desired="Paused", marker=MARKER, phase="Pausing", cat_scale={"min": 0, "max": 0})
    vs = vertices(pl, SOURCES_PAUSED)
    waiting = decide(pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=29))
    assert waiting.phase == c.PipelinePhase.PAUSING
    assert "(its reader pl-cat runs 0 pods, so it cannot drain)" in waiting.events[-1].message
    done = decide(pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=30))
    assert done.phase == c.PipelinePhase.PAUSED
    assert done.drained_on_pause is False
    assert f"{BUF_CAT} holds pending=7 ackPending=2 (its reader pl-cat runs 0 pods" in done.events[-1].message


def test_no_data_drains_at_the_first_check() -> None:
    """#2413: an idle pipeline is drained as soon as the source pods are gone."""
    pl = pipeline(desired="Paused", marker=MARKER, phase="Pausing")
    d = decide(
        pl,
        vertices(pl, SOURCES_PAUSED),
        source_pods_running=False,
        buffers=EMPTY,
        now=T0 + timedelta(milliseconds=200),
    )
    assert d.phase == c.PipelinePhase.PAUSED and d.drained_on_pause is True
    assert (
        d.events[-1].message
        == "Pipeline paused, drained: 2 buffers empty and no source pods, 0s after the pause started"
    )


def test_a_buffer_missing_from_the_infos_blocks_the_drain_and_is_named() -> None:
    pl = pipeline(desired="Paused", marker=MARKER)
    d = decide(
        pl,
        vertices(pl, SOURCES_PAUSED),
        source_pods_running=False,
        buffers={BUF_CAT: info(BUF_CAT)},
        now=T0 + timedelta(seconds=1),
    )
    assert d.phase == c.PipelinePhase.PAUSING
    assert d.events[-1].message.endswith(f"{BUF_OUT}: no buffer info")


def test_ack_pending_alone_is_not_drained() -> None:
    pl = pipeline()
    check = check_drain(
        pl, vertices(pl, {}), False, {BUF_CAT: info(BUF_CAT, 0, 1), BUF_OUT: info(BUF_OUT)}, None
    )
    assert not check.drained


def test_a_pipeline_vertex_paused_again_after_the_pause_completed_is_reported_as_repaired() -> None:
    pl = pipeline(desired="Paused", marker=MARKER, phase="Paused", drained_on_pause=False)
    d = decide(
        pl,
        vertices(pl, {"in": "Paused", "cat": "Running", "out": "Paused"}),
        source_pods_running=False,
        buffers=EMPTY,
        now=T0 + timedelta(hours=1),
    )
    assert d.vertex_patches == patches(("cat", "Paused"))
    assert d.events[0].reason == "RepairedVertexDesiredPhase"
    assert d.events[0].message == "Vertex pl-cat: desired phase Running → Paused"


def test_a_source_unpaused_by_hand_during_the_drain_is_paused_again() -> None:
    pl = pipeline(desired="Paused", marker=MARKER)
    d = decide(
        pl, vertices(pl, ALL_RUNNING), source_pods_running=True, buffers=EMPTY, now=T0 + timedelta(seconds=2)
    )
    assert d.vertex_patches == patches(("in", "Paused"))
    assert d.phase == c.PipelinePhase.PAUSING


def test_an_unparsable_marker_restarts_the_pause_with_a_warning() -> None:
    pl = pipeline(desired="Paused", marker="yesterday")
    d = decide(pl, vertices(pl, SOURCES_PAUSED), source_pods_running=False, buffers=EMPTY, now=T0)
    assert d.annotations == {c.KEY_PAUSE_TIMESTAMP: MARKER}
    assert d.events[0].reason == "InvalidPauseTimestamp"
    assert d.phase == c.PipelinePhase.PAUSING


def test_grace_period_is_measured_from_the_marker() -> None:
    pl = pipeline(desired="Paused", marker=MARKER, grace=120)
    vs = vertices(pl, SOURCES_PAUSED)
    assert decide(
        pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=119)
    ).phase == (c.PipelinePhase.PAUSING)
    assert decide(
        pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=120)
    ).phase == (c.PipelinePhase.PAUSED)


def test_drain_poll_interval_is_configurable() -> None:
    pl = pipeline(desired="Paused", marker=MARKER)
    d = decide(
        pl,
        vertices(pl, SOURCES_PAUSED),
        source_pods_running=False,
        buffers=HOLDING,
        now=T0 + timedelta(seconds=1),
        settings=LifecycleSettings(drain_poll_seconds=0.25),
    )
    assert d.requeue_after == 0.25


def test_resume_events_name_the_strategy_and_the_replicas_each_vertex_returns_to() -> None:
    pl = pipeline(desired="Running", marker=MARKER)
    d = decide(
        pl, vertices(pl, ALL_PAUSED, {"cat": 4, "out": 2}), source_pods_running=False, buffers=None, now=T0
    )
    assert [e.message for e in d.events] == [
        "Resumed vertex pl-in: desired phase Paused → Running, strategy fast, replicas 1",
        "Resumed vertex pl-cat: desired phase Paused → Running, strategy fast, replicas 4",
        "Resumed vertex pl-out: desired phase Paused → Running, strategy fast, replicas 2",
        "Pipeline resumed with strategy fast: pl-in=1, pl-cat=4, pl-out=2",
    ]


def test_slow_resume_returns_each_vertex_to_one_clamped_to_its_bounds() -> None:
    pl = pipeline(desired="Running", marker=MARKER, strategy="slow", cat_scale={"min": 2, "max": 5})
    d = decide(
        pl, vertices(pl, ALL_PAUSED, {"cat": 4, "out": 3}), source_pods_running=False, buffers=None, now=T0
    )
    assert d.events[-1].message == "Pipeline resumed with strategy slow: pl-in=1, pl-cat=2, pl-out=1"
    assert all(p.remove_replicas for p in d.vertex_patches)


@pytest.mark.parametrize(
    ("replicas", "scale", "slow", "expected"),
    [
        (3, {"min": 1, "max": 5}, False, 3),
        (3, {"min": 1, "max": 5}, True, 1),
        (None, {"min": 2, "max": 5}, False, 2),
        (None, {"min": 0, "max": 0}, True, 0),
        (9, {"min": 1, "max": 5}, False, 5),
        (0, {"min": 0, "max": 5}, False, 0),
    ],
)
def test_replicas_after_resume(
    replicas: int | None, scale: dict[str, int], slow: bool, expected: int
) -> None:
    pl = pipeline(cat_scale=scale)
    cat = vertices(pl, ALL_PAUSED, {"cat": replicas})[1]
    assert replicas_after_resume(cat, slow) == expected
    assert cat.spec.get_lifecycle().is_paused(), "the vertex itself is not changed"


def test_merge_patch_of_a_slow_resume_removes_replicas() -> None:
    assert VertexPatch("pl-cat", "Running", True).merge_patch() == {
        "spec": {"replicas": None, "lifecycle": {"desiredPhase": "Running"}}
    }
    assert VertexPatch("pl-cat", "Paused").merge_patch() == {
        "spec": {"lifecycle": {"desiredPhase": "Paused"}}
    }


def test_decision_applies_phase_message_and_drained_to_status() -> None:
    st = PipelineStatus(phase="Failed", message="isbsvc default not healthy", drained_on_pause=True)
    pl = pipeline(desired="Running", marker=MARKER)
    d = decide(pl, vertices(pl, ALL_PAUSED), source_pods_running=False, buffers=None, now=T0)
    d.apply_to_status(st)
    assert (st.phase, st.message, st.drained_on_pause) == ("Running", "", False)
    assert d.annotation_patch() == {"metadata": {"annotations": {c.KEY_PAUSE_TIMESTAMP: None}}}


def test_cleanup_lists_every_buffer_and_bucket_of_the_pipeline() -> None:
    pl = pipeline(deletion=MARKER)
    d = decide(pl, vertices(pl, SOURCES_PAUSED), source_pods_running=False, buffers=EMPTY, now=T0)
    assert d.cleanup is not None
    assert d.cleanup.buffers == [BUF_CAT, BUF_OUT]
    assert d.cleanup.buckets == ["ns-pl-in-cat", "ns-pl-cat-out", "ns-pl-in_SOURCE", "ns-pl-out_SINK"]
    assert d.cleanup.side_inputs_store is None


def test_delete_grace_falls_back_to_metadata_deletion_grace_period() -> None:
    pl = pipeline(deletion=MARKER)
    pl.metadata.deletion_grace_period_seconds = 5
    vs = vertices(pl, SOURCES_PAUSED)
    assert (
        decide(pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=4)).cleanup
        is None
    )
    assert decide(pl, vs, source_pods_running=False, buffers=HOLDING, now=T0 + timedelta(seconds=5)).cleanup


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T12:00:00Z", T0),
        ("2026-01-01T13:00:00+01:00", T0),
        ("2026-01-01T12:00:00", T0),
        ("", None),
        (None, None),
        ("not a time", None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def _decide_lazily(pl: Pipeline, vs: list[Vertex], buffers: Buffers) -> LifecycleDecision | None:
    """The decision with ``buffers``, None if it raised ``BuffersNeeded``."""
    try:
        return decide(pl, vs, source_pods_running=False, buffers=buffers, now=T0 + timedelta(seconds=5))
    except BuffersNeeded:
        return None


LAZY_CASES = [
    # (pipeline, vertex phases, whether decide must read buffers)
    (pipeline("Running"), ALL_RUNNING, False),
    (pipeline("Running", marker=MARKER), ALL_PAUSED, False),
    (pipeline("Paused"), ALL_RUNNING, False),
    (pipeline("Paused", marker=MARKER, phase="Paused", drained_on_pause=True), ALL_PAUSED, False),
    (pipeline("Paused", marker="not a time"), SOURCES_PAUSED, False),
    (pipeline("Paused", marker=MARKER, phase="Pausing"), SOURCES_PAUSED, True),
    (pipeline("Paused", marker=MARKER, phase="Paused", drained_on_pause=False), ALL_PAUSED, True),
    (pipeline("Paused", marker=MARKER, phase="Paused", drained_on_pause=True), SOURCES_PAUSED, True),
    (pipeline("Running", deletion=MARKER), ALL_RUNNING, True),
]


@pytest.mark.parametrize(("pl", "phases", "reads"), LAZY_CASES)
def test_buffers_are_read_only_when_the_decision_depends_on_them(
    pl: Pipeline, phases: dict[str, str], reads: bool
) -> None:
    vs = vertices(pl, phases)
    lazy = _decide_lazily(pl, vs, NOT_READ)
    assert (lazy is None) == reads
    if lazy is not None:  # the same decision whatever the buffers would have said
        for buffers in (EMPTY, HOLDING, None):
            assert _decide_lazily(pl, vs, buffers) == lazy
