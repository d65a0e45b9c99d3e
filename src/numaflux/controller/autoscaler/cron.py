"""``scale.cron`` windows for sources: six-field cron expressions (sec min hour dom mon dow, as NumaFlow's
robfig/cron parser with seconds) and the replica bounds in force at a given time.

A schedule is active from a firing of its ``start`` until the next firing of its ``end``: at `now`, the
latest ``start`` firing at or before now is later than the latest ``end`` firing. The first active schedule
wins; its unset ``min``/``max`` fall back to the vertex's ``scale.min``/``scale.max``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from numaflux.api.scale import Scale

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
SEARCH_DAYS = 400
"""How far back a firing is looked for (a yearly schedule still finds its last firing)."""


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message says which field."""


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> tuple[frozenset[int], bool]:
    """The values of one field and whether it is unrestricted (`*` or `?`)."""
    values: set[int] = set()
    star = text in ("*", "?")

    def number(s: str) -> int:
        key = s.upper()
        if names and key in names:
            return names[key]
        try:
            return int(s)
        except ValueError as err:
            raise CronError(f"{text!r}: {s!r} is not a number") from err

    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = number(step_text) if step_text else 1
        if step <= 0:
            raise CronError(f"{text!r}: step must be positive")
        if body in ("*", "?"):
            first, last = lo, hi
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = number(a), number(b)
        else:
            first = number(body)
            last = hi if step_text else first
        if not (lo <= first <= hi and lo <= last <= hi) or first > last:
            raise CronError(f"{text!r}: out of range {lo}-{hi}")
        values.update(range(first, last + 1, step))
    return frozenset(values), star


@dataclass(frozen=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expr: str) -> Cron:
        fields = expr.split()
        if len(fields) != 6:
            raise CronError(f"{expr!r}: expected 6 fields (sec min hour dom mon dow), got {len(fields)}")
        seconds = _field(fields[0], 0, 59)[0]
        minutes = _field(fields[1], 0, 59)[0]
        hours = _field(fields[2], 0, 23)[0]
        days, any_day = _field(fields[3], 1, 31)
        months = _field(fields[4], 1, 12, _MONTHS)[0]
        sundays_as_7, any_weekday = _field(fields[5], 0, 7, _DAYS)
        weekdays = frozenset(d % 7 for d in sundays_as_7)
        return cls(seconds, minutes, hours, days, months, weekdays, any_day, any_weekday)

    def day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # robfig: with either one unrestricted, both must match
            return dom and dow
        return dom or dow

    def last_at_or_before(self, now: datetime) -> datetime | None:
        """The latest firing at or before `now` (same timezone as `now`), within SEARCH_DAYS."""
        for day in _days_back(now):
            if not self.day_matches(day):
                continue
            same_day = day.date() == now.date()
            for h in sorted(self.hours, reverse=True):
                if same_day and h > now.hour:
                    continue
                for m in sorted(self.minutes, reverse=True):
                    if same_day and h == now.hour and m > now.minute:
                        continue
                    limit = now.second if same_day and h == now.hour and m == now.minute else 59
                    secs = [s for s in self.seconds if s <= limit]
                    if secs:
                        return day.replace(hour=h, minute=m, second=max(secs), microsecond=0)
        return None


def _days_back(now: datetime) -> Iterator[datetime]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(SEARCH_DAYS):
        yield start - timedelta(days=i)


def cron_bounds(scale: Scale, now: datetime) -> tuple[int, int] | None:
    """(min, max) of the first schedule active at `now`, or None when none is (or there is no cron)."""
    cron = scale.cron
    if cron is None or not cron.schedules:
        return None
    try:
        tz = ZoneInfo(cron.get_timezone())
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise CronError(f"timezone {cron.get_timezone()!r}: {err}") from err
    local = now.astimezone(tz)
    for schedule in cron.schedules:
        if not schedule.start or not schedule.end:
            continue
        started = Cron.parse(schedule.start).last_at_or_before(local)
        if started is None:
            continue
        ended = Cron.parse(schedule.end).last_at_or_before(local)
        if ended is None or started > ended:
            lo = scale.get_min_replicas() if schedule.min is None else schedule.min
            hi = scale.get_max_replicas() if schedule.max is None else schedule.max
            return lo, hi
    return None
