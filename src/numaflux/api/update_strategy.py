"""Rolling-update strategy of vertices and MonoVertices."""

from __future__ import annotations

import math

from numaflux.api import constants as c
from numaflux.api._base import NumaModel


def scaled_value_from_int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """Kubernetes' ``GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total``."""
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid value {value!r}: must be an int or a percent"
        )
    try:
        pct = int(value[:-1])
    except ValueError as exc:
        raise ValueError(f"invalid value {value!r}: must be an int or a percent") from exc
    scaled = pct * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


class RollingUpdateStrategy(NumaModel):
    max_unavailable: int | str | None = None

    def get_max_unavailable(self) -> int | str:
        return c.DEFAULT_MAX_UNAVAILABLE if self.max_unavailable is None else self.max_unavailable


class UpdateStrategy(NumaModel):
    type: str | None = None
    rolling_update: RollingUpdateStrategy | None = None

    def get_type(self) -> str:
        """Only RollingUpdate is supported; anything else means RollingUpdate."""
        return c.DEFAULT_UPDATE_STRATEGY_TYPE

    def get_max_unavailable(self) -> int | str:
        return (self.rolling_update or RollingUpdateStrategy()).get_max_unavailable()

    def get_max_unavailable_replicas(self, desired_replicas: int) -> int:
        """Absolute max-unavailable for ``desired_replicas`` (percentages round up: 25% of 3 → 1)."""
        return scaled_value_from_int_or_percent(self.get_max_unavailable(), desired_replicas, round_up=True)
