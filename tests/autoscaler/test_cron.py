"""Cron windows for sources: six-field expressions, the bounds in force, and the steps they cause."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from numaflux.api.scale import Scale
from numaflux.controller.autoscaler.cron import Cron, CronError, cron_bounds
from numaflux.controller.autoscaler.decide import Model, Observed, Skip, decide

from .test_decide import vertex

WED = datetime(2026, 1, 7, 12, 0, 0, tzinfo=UTC)  # a Wednesday


def test_the_last_firing_at_or_before_a_time() -> None:
    weekdays_9 = Cron.parse("0 0 9 * * MON-FRI")
    assert weekdays_9.last_at_or_before(WED) == datetime(2026, 1, 7, 9, 0, 0, tzinfo=UTC)
    assert weekdays_9.last_at_or_before(datetime(2026, 1, 10, 8, tzinfo=UTC)) == datetime(
        2026, 1, 9, 9, tzinfo=UTC
    )
    every_15s = Cron.parse("*/15 * * * * *")
    assert every_15s.last_at_or_before(WED.replace(second=44)) == WED.replace(second=30)
    sundays = Cron.parse("30 0 6 * * 7")  # 7 is Sunday too
    assert sundays.last_at_or_before(WED) == datetime(2026, 1, 4, 6, 0, 30, tzinfo=UTC)
    first_of_month = Cron.parse("0 0 0 1 * ?")
    assert first_of_month.last_at_or_before(WED) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["* * * * *", "0 0 25 * * *", "x * * * * *", "0 0 9 * * MON/0"])
def test_a_bad_expression_says_so(bad: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(bad)


def office_hours(tz: str = "UTC", **extra: object) -> Scale:
    return Scale.model_validate(
        {
            "min": 1,
            "max": 10,
            "cron": {
                "timezone": tz,
                "schedules": [{"start": "0 0 9 * * *", "end": "0 0 17 * * *", "min": 3, "max": 5, **extra}],
            },
        }
    )


def test_the_window_between_start_and_end_gives_its_bounds() -> None:
    assert cron_bounds(office_hours(), WED) == (3, 5)
    assert cron_bounds(office_hours(), WED.replace(hour=18)) is None
    assert cron_bounds(office_hours(), WED.replace(hour=8)) is None
    # 12:00 UTC is 07:00 in New York: the window there opens at 14:00 UTC
    assert cron_bounds(office_hours("America/New_York"), WED) is None
    assert cron_bounds(office_hours("America/New_York"), WED.replace(hour=15)) == (3, 5)
    assert cron_bounds(Scale(), WED) is None


def test_a_source_steps_into_its_window_and_an_unparsable_cron_is_ignored() -> None:
    cron = office_hours().cron
    assert cron is not None
    window = {"cron": cron.model_dump(by_alias=True, exclude_none=True), "min": 1, "max": 10}
    low = vertex("source", replicas=1, scale=window)
    d = decide(Observed(low, "Running", WED))
    assert (d.current, d.replicas, d.model) == (1, 3, Model.CRON)
    high = vertex("source", replicas=8, scale=window)
    assert decide(Observed(high, "Running", WED)).replicas == 6
    inside = vertex("source", replicas=4, scale=window)
    assert decide(Observed(inside, "Running", WED)).skip is Skip.NO_METRICS
    broken = {**window, "cron": {"schedules": [{"start": "nope", "end": "0 0 17 * * *", "min": 3}]}}
    assert decide(Observed(vertex("source", replicas=1, scale=broken), "Running", WED)).model is None
