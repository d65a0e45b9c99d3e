"""Lifecycle settings (desired phase, grace periods)."""

from __future__ import annotations

from numaflux.api import constants as c
from numaflux.api._base import NumaModel


def normalize_desired_phase(value: str | None) -> str:
    """NumaFlow's rule: ``Paused`` stays Paused, anything else means Running."""
    return c.VertexPhase.PAUSED.value if value == c.VertexPhase.PAUSED.value else c.VertexPhase.RUNNING.value


class Lifecycle(NumaModel):
    """Pipeline ``spec.lifecycle``."""

    deletion_grace_period_seconds: int | None = None
    delete_grace_period_seconds: int | None = None  # deprecated alias of the above
    desired_phase: str | None = None
    pause_grace_period_seconds: int | None = None

    def get_desired_phase(self) -> str:
        return normalize_desired_phase(self.desired_phase)

    def get_pause_grace_period_seconds(self) -> int:
        v = self.pause_grace_period_seconds
        return c.DEFAULT_GRACE_PERIOD_SECONDS if v is None else v

    def get_termination_grace_period_seconds(self, metadata_deletion_grace: int | None = None) -> int:
        """deletionGracePeriodSeconds → deleteGracePeriodSeconds → metadata's → 30."""
        for v in (
            self.deletion_grace_period_seconds,
            self.delete_grace_period_seconds,
            metadata_deletion_grace,
        ):
            if v is not None:
                return v
        return c.DEFAULT_GRACE_PERIOD_SECONDS


class VertexLifecycle(NumaModel):
    """Vertex and MonoVertex ``spec.lifecycle``."""

    desired_phase: str | None = None

    def get_desired_phase(self) -> str:
        return normalize_desired_phase(self.desired_phase)

    def is_paused(self) -> bool:
        return self.get_desired_phase() == c.VertexPhase.PAUSED.value
