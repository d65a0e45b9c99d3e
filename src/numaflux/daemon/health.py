"""Pipeline data health from buffer usage: NumaFlow's EWMA rules (pure; the caller supplies samples).

Each step (10 s by default) every buffer's usage in percent is appended to a 30-entry timeline. The EWMA of
the timeline (alpha = 2 / 31, the first value initialises it) gives the state of the latest point:
> 95 critical, > 80 warning, else healthy. Critical counts only if at least 3 of the last 6 EWMA points
are critical; otherwise it is reported as warning. The pipeline takes the worst buffer state:
unknown > critical > warning > healthy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

WINDOW_SIZE = 30  # 5 min of 10 s steps
ALPHA = 2 / (WINDOW_SIZE + 1)
CRITICAL_THRESHOLD = 95.0
WARNING_THRESHOLD = 80.0
CRITICAL_WINDOW_SIZE = 6
CRITICAL_LOOKBACK_COUNT = 3
DEFAULT_STEP_SECONDS = 10.0


class HealthState(IntEnum):
    """Data-health states, valued by precedence (the pipeline reports the highest)."""

    HEALTHY = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


_CODES = {
    HealthState.HEALTHY: "D1",
    HealthState.WARNING: "D2",
    HealthState.CRITICAL: "D3",
    HealthState.UNKNOWN: "D4",
}


@dataclass(frozen=True, slots=True)
class DataHealth:
    """`GetPipelineStatus`'s answer: status label, message and code D1-D4."""

    status: str
    message: str
    code: str


def ewma(values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """The exponentially weighted moving average after each value; the first value initialises it."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else alpha * v + (1 - alpha) * out[-1])
    return out


def state_of(usage_percent: float) -> HealthState:
    """> 95 critical, > 80 warning, else healthy."""
    if usage_percent > CRITICAL_THRESHOLD:
        return HealthState.CRITICAL
    if usage_percent > WARNING_THRESHOLD:
        return HealthState.WARNING
    return HealthState.HEALTHY


def buffer_state(timeline: Sequence[float]) -> HealthState:
    """State of one buffer from its usage-percent timeline; critical only if confirmed (3 of the last 6)."""
    if not timeline:
        return HealthState.UNKNOWN
    averages = ewma(timeline)
    state = state_of(averages[-1])
    if state is HealthState.CRITICAL:
        recent = averages[-CRITICAL_WINDOW_SIZE:]
        confirmed = sum(1 for a in recent if state_of(a) is HealthState.CRITICAL)
        if confirmed < CRITICAL_LOOKBACK_COUNT:
            return HealthState.WARNING
    return state


def pipeline_health(states: Mapping[str, HealthState]) -> DataHealth:
    """The worst buffer state (first buffer in order on ties) as a DataHealth; no buffers is healthy."""
    worst = HealthState.HEALTHY
    culprit = ""
    for buffer, state in states.items():
        if state > worst:
            worst, culprit = state, buffer
    return describe(worst, culprit)


def describe(state: HealthState, buffer: str = "") -> DataHealth:
    """The NumaFlow message and code for `state` (naming `buffer` for warning and critical)."""
    if state is HealthState.HEALTHY:
        message = "Pipeline data flow is healthy"
    elif state is HealthState.WARNING:
        message = f"Pipeline data flow is in a warning state for {buffer}"
    elif state is HealthState.CRITICAL:
        message = f"Pipeline data flow is in a critical state for {buffer}"
    else:
        message = "Pipeline data flow is in an unknown state"
    return DataHealth(state.label, message, _CODES[state])


UNKNOWN = describe(HealthState.UNKNOWN)


class HealthTracker:
    """Per-buffer usage timelines and the current data health (unknown until the first sample)."""

    def __init__(self, window: int = WINDOW_SIZE) -> None:
        self._window = window
        self._timelines: dict[str, deque[float]] = {}
        self._current = UNKNOWN

    @property
    def current(self) -> DataHealth:
        return self._current

    def timeline(self, buffer: str) -> list[float]:
        return list(self._timelines.get(buffer, ()))

    def record(self, usages: Iterable[tuple[str, float]]) -> DataHealth:
        """Append one step of `(buffer, usage fraction)` samples and recompute the health."""
        states: dict[str, HealthState] = {}
        for buffer, usage in usages:
            timeline = self._timelines.setdefault(buffer, deque(maxlen=self._window))
            timeline.append(usage * 100)
            states[buffer] = buffer_state(timeline)
        self._current = pipeline_health(states)
        return self._current

    def record_failure(self) -> DataHealth:
        """Buffer info could not be read this step: the health is unknown (timelines are kept)."""
        self._current = UNKNOWN
        return self._current
