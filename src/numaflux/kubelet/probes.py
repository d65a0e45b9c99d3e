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


READINESS_PEEK_SECONDS = 0.1
"""Between scheduled readiness probes of a container that has not been ready yet, how often to peek."""


def peeks(settings: ProbeSettings, ever_ready: bool) -> bool:
    """Whether a readiness probe is peeked at between its scheduled runs.

    Until a container is first ready it is also checked every ``READINESS_PEEK_SECONDS``: with
    ``periodSeconds`` 1 a pod waited half a second on average after it could serve, and a resumed pipeline
    waits for all of its pods. A peek that passes is recorded like a scheduled run (ready at once); one that
    fails is neither counted nor reported, so failure thresholds and Unhealthy events stay Kubernetes'
    own. Only with ``successThreshold`` 1, where one pass decides."""
    return not ever_ready and settings.success_threshold == 1


def peek_due(
    settings: ProbeSettings,
    state: ProbeState,
    container_started: float,
    now: float,
    last_peek: float | None,
    ever_ready: bool,
) -> bool:
    """Whether to peek now (see ``peeks``): not before the initial delay, not when a run is due anyway."""
    if not peeks(settings, ever_ready) or now < container_started + settings.initial_delay:
        return False
    if is_due(settings, state, container_started, now):
        return False
    return last_peek is None or now >= last_peek + READINESS_PEEK_SECONDS


def record(settings: ProbeSettings, state: ProbeState, success: bool, now: float) -> ProbeState:
    """State after one probe run."""
    if success:
        successes, failures = state.successes + 1, 0
        result = True if successes >= settings.success_threshold else state.result
    else:
        successes, failures = 0, state.failures + 1
        result = False if failures >= settings.failure_threshold else state.result
    return replace(state, result=result, successes=successes, failures=failures, last_run=now)
