"""Restart decisions and CrashLoopBackOff delays, as pure functions of their inputs and the clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Crash-loop backoff: the first restart is immediate, then `base` doubling up to `cap`.

    A container that ran at least `reset_after` seconds before exiting starts over at an immediate restart.
    """

    base: float = 10.0
    cap: float = 300.0
    reset_after: float = 600.0


def crash_count_after_exit(
    policy: BackoffPolicy, previous: int, started_at: float, finished_at: float
) -> int:
    """Consecutive crashes counted after an exit, given how long the instance ran."""
    if finished_at - started_at >= policy.reset_after:
        return 1
    return previous + 1


def restart_delay(policy: BackoffPolicy, crash_count: int) -> float:
    """Seconds to wait before restarting after the `crash_count`-th consecutive exit (1-based)."""
    if crash_count <= 1:
        return 0.0
    return float(min(policy.cap, policy.base * (2 ** (crash_count - 2))))


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether a container with this effective restart policy is restarted after exiting with `exit_code`."""
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def exit_code_of(returncode: int) -> int:
    """Container exit code from a process return code: death by signal N reads 128+N, like a shell."""
    return 128 - returncode if returncode < 0 else returncode


def terminated_reason(exit_code: int) -> str:
    """`state.terminated.reason` for an exit code."""
    return "Completed" if exit_code == 0 else "Error"
