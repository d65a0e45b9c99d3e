"""Data health: EWMA, thresholds, critical confirmation and the pipeline-wide status with codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.daemon.health import (
    ALPHA,
    DataHealth,
    HealthState,
    HealthTracker,
    buffer_state,
    ewma,
    pipeline_health,
    state_of,
)


def test_alpha_is_two_over_thirty_one() -> None:
    assert ALPHA == 2 / 31


def test_ewma_starts_at_the_first_value_and_moves_by_alpha() -> None:
    assert ewma([0.0, 31.0, 31.0]) == pytest.approx([0.0, 2.0, 2.0 + (31 - 2) * 2 / 31])
    assert ewma([50.0]) == [50.0]
    assert ewma([]) == []


@pytest.mark.parametrize(
    ("usage", "state"),
    [
        (0.0, HealthState.HEALTHY),
        (80.0, HealthState.HEALTHY),
        (80.01, HealthState.WARNING),
        (95.0, HealthState.WARNING),
        (95.01, HealthState.CRITICAL),
        (100.0, HealthState.CRITICAL),
    ],
)
def test_thresholds_are_strictly_above_80_and_95(usage: float, state: HealthState) -> None:
    assert state_of(usage) is state


def test_a_single_critical_point_is_reported_as_warning_until_three_of_six_confirm_it() -> None:
    timeline = [94.9] * 10 + [100.0]
    # EWMA: 94.9 until the last point, then 94.9 + 5.1 * 2/31 = 95.229...
    assert ewma(timeline)[-1] == pytest.approx(94.9 + 5.1 * 2 / 31)
    assert buffer_state(timeline) is HealthState.WARNING
    assert buffer_state([*timeline, 100.0]) is HealthState.WARNING  # two critical points
    assert buffer_state([*timeline, 100.0, 100.0]) is HealthState.CRITICAL  # three of the last six


def test_confirmation_only_looks_at_the_last_six_points() -> None:
    # critical long ago does not count: 3 critical EWMA points, then 6 points back under 95
    timeline = [100.0] * 3 + [0.0] * 6
    assert buffer_state(timeline) is HealthState.HEALTHY


def test_steady_full_buffer_is_critical_and_steady_half_is_healthy() -> None:
    assert buffer_state([100.0] * 30) is HealthState.CRITICAL
    assert buffer_state([50.0] * 30) is HealthState.HEALTHY
    assert buffer_state([90.0] * 30) is HealthState.WARNING
    assert buffer_state([]) is HealthState.UNKNOWN


def test_pipeline_status_is_the_worst_buffer_with_its_code_and_name() -> None:
    assert pipeline_health({}) == DataHealth("healthy", "Pipeline data flow is healthy", "D1")
    states = {"a": HealthState.WARNING, "b": HealthState.HEALTHY}
    assert pipeline_health(states) == DataHealth(
        "warning", "Pipeline data flow is in a warning state for a", "D2"
    )
    states = {"a": HealthState.WARNING, "b": HealthState.CRITICAL, "c": HealthState.CRITICAL}
    assert pipeline_health(states) == DataHealth(
        "critical", "Pipeline data flow is in a critical state for b", "D3"
    )
    states = {"a": HealthState.CRITICAL, "b": HealthState.UNKNOWN}
    assert pipeline_health(states).code == "D4"


def test_tracker_is_unknown_until_the_first_step_and_after_a_failed_one() -> None:
    tracker = HealthTracker()
    assert tracker.current == DataHealth("unknown", "Pipeline data flow is in an unknown state", "D4")
    assert tracker.record([("b", 0.5)]).code == "D1"
    assert tracker.timeline("b") == [50.0]
    assert tracker.record_failure().code == "D4"
    assert tracker.timeline("b") == [50.0]  # the timeline is kept


def test_tracker_keeps_thirty_entries_per_buffer() -> None:
    tracker = HealthTracker()
    for i in range(40):
        tracker.record([("b", i / 100)])
    assert tracker.timeline("b") == pytest.approx([float(i) for i in range(10, 40)])


def test_tracker_turns_critical_after_three_full_steps() -> None:
    tracker = HealthTracker()
    steps = [tracker.record([("ok", 0.1), ("full", 1.0)]).status for _ in range(3)]
    # the EWMA is 100 from the first step, but critical needs three critical points to be confirmed
    assert steps == ["warning", "warning", "critical"]


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=40))
def test_critical_is_reported_only_when_confirmed_by_three_of_the_last_six(timeline: list[float]) -> None:
    averages = ewma(timeline)
    confirmed = sum(1 for a in averages[-6:] if a > 95)
    state = buffer_state(timeline)
    if state is HealthState.CRITICAL:
        assert averages[-1] > 95 and confirmed >= 3
    if averages[-1] > 95 and confirmed < 3:
        assert state is HealthState.WARNING
    if averages[-1] <= 95:
        assert state is state_of(averages[-1])
