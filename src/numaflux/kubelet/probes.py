"""Probe settings and the result state machine (pure; the clock is an argument)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

ProbeKind = Literal["startup", "readiness", "liveness"]


@dataclass(frozen=True)
class ProbeSettings:
    """Timing and thresholds of one probe, with the Kubernetes defaults."""

    spec: dict[str, Any]

    @property
    def initial_delay(self) -> float:
        return float(self.spec.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    @property
    def timeout(self) -> float:
        return float(self.spec.get("timeoutSeconds") or 1)

    @property
    def success_threshold(self) -> int:
        return int(self.spec.get("successThreshold") or 1)

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold") or 3)

    @property
    def termination_grace(self) -> float | None:
        """Probe-level terminationGracePeriodSeconds (liveness and startup), if set."""
        value = self.spec.get("terminationGracePeriodSeconds")
        return None if value is None else float(value)


@dataclass(frozen=True)
class ProbeState:
    """Outcome of a probe so far: `result` flips only after the configured number of consecutive results.

    Readiness starts as failure (not ready), liveness and startup start as success for the purpose of
    "no action yet"; startup additionally has `result is None` until it first passes.
    """

    result: bool | None
    successes: int = 0
    failures: int = 0
    last_run: float | None = None


def initial_state(kind: ProbeKind) -> ProbeState:
    """State before the first probe run."""
    return ProbeState(result=True if kind == "liveness" else None)


def is_due(settings: ProbeSettings, state: ProbeState, container_started: float, now: float) -> bool:
    """Whether the probe should run now."""
    if now < container_started + settings.initial_delay:
        return False
    return state.last_run is None or now >= state.last_run + settings.period


def next_due(settings: ProbeSettings, state: ProbeState, container_started: float) -> float:
    """Clock value at which the probe is next due."""
    first = container_started + settings.initial_delay
    if state.last_run is None:
        return first
    return max(first, state.last_run + settings.period)


def record(settings: ProbeSettings, state: ProbeState, success: bool, now: float) -> ProbeState:
    """State after one probe run."""
    if success:
        successes, failures = state.successes + 1, 0
        result = True if successes >= settings.success_threshold else state.result
    else:
        successes, failures = 0, state.failures + 1
        result = False if failures >= settings.failure_threshold else state.result
    return replace(state, result=result, successes=successes, failures=failures, last_run=now)
