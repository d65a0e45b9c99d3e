"""Small value types the decision functions return: Events, log lines and vertex lifecycle patches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from numaflux.api import constants as c

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record about the reconciled object."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class LogLine:
    """A structured log line: a message, the inputs that led to the decision, and a logging level name
    (``debug`` for steady-state lines that would repeat on every reconcile)."""

    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    level: str = "info"


@dataclass(frozen=True)
class VertexPatch:
    """Set ``spec.lifecycle.desiredPhase`` of the Vertex object ``vertex`` (its metadata.name);
    ``remove_replicas`` also deletes ``spec.replicas`` (slow resume)."""

    vertex: str
    desired_phase: str
    remove_replicas: bool = False

    def merge_patch(self) -> dict[str, Any]:
        """The JSON merge patch to send to the Vertex."""
        spec: dict[str, Any] = {"lifecycle": {"desiredPhase": self.desired_phase}}
        if self.remove_replicas:
            spec["replicas"] = None
        return {"spec": spec}


def is_paused(phase: str | None) -> bool:
    """Whether a desiredPhase value means Paused (anything else means Running)."""
    return phase == c.VertexPhase.PAUSED.value
