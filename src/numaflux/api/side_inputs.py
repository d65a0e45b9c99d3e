"""Side inputs declared on a pipeline."""

from __future__ import annotations

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.container import Container


class SideInputTrigger(NumaModel):
    schedule: str | None = None  # 6-field cron, "@every 1h30m", "@hourly", ...
    timezone: str | None = None

    def get_timezone(self) -> str:
        return self.timezone or c.DEFAULT_CRON_TIMEZONE


class SideInput(NumaModel):
    name: str | None = None
    container: Container | None = None
    trigger: SideInputTrigger | None = None
