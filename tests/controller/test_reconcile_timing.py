"""`--log-reconcile-times`: one DEBUG line per successful reconcile with its duration; nothing otherwise."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from numaflux.controller.controller import Controller, Result


class Sleeper:
    """A reconciler that takes a known minimum time and can be told to fail."""

    def __init__(self) -> None:
        self.fail = False

    async def reconcile(self, key: str) -> Result:
        await asyncio.sleep(0.02)
        if self.fail:
            raise RuntimeError("boom")
        return Result()


async def test_each_successful_reconcile_is_logged_with_its_duration_only_when_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconciler = Sleeper()
    ctl = Controller("demo", reconciler)
    timing = logging.getLogger("numaflux.controller.timing")
    with caplog.at_level(logging.INFO, logger="numaflux.controller.timing"):
        await ctl.process("ns/a")
    assert not [r for r in caplog.records if r.name == timing.name]

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="numaflux.controller.timing"):
        await ctl.process("ns/a")
        reconciler.fail = True
        await ctl.process("ns/b")
    lines = [r.getMessage() for r in caplog.records if r.name == timing.name]
    assert len(lines) == 1, lines
    m = re.fullmatch(r"reconciled controller=demo key=ns/a seconds=(\d+\.\d{6})", lines[0])
    assert m is not None, lines[0]
    assert float(m.group(1)) >= 0.015  # measured around the reconcile call, which sleeps 0.02 s
    ctl.stop()
