"""Status conditions, kept the way NumaFlow's ``status_types.go`` keeps them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from numaflux.api._base import NumaModel
from numaflux.api.constants import ConditionStatus

REASON_SUCCESSFUL = "Successful"
REASON_UNKNOWN = "Unknown"


def format_time(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Condition(NumaModel):
    """A metav1.Condition."""

    type: str
    status: str
    observed_generation: int | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class Status(NumaModel):
    """Condition bookkeeping shared by every status. Methods take the clock (``now``) explicitly."""

    conditions: list[Condition] | None = None

    def get_condition(self, type_: str) -> Condition | None:
        for cond in self.conditions or []:
            if cond.type == type_:
                return cond
        return None

    def init_condition_types(self, types: Iterable[str], now: datetime) -> None:
        """Set each type to Unknown/Unknown (NumaFlow does this on every reconcile)."""
        for t in types:
            self.set_condition(t, ConditionStatus.UNKNOWN, REASON_UNKNOWN, "", now)

    def set_condition(self, type_: str, status: str, reason: str, message: str, now: datetime) -> None:
        """Replace the condition of ``type_``; keep lastTransitionTime if nothing changed; sort by type."""
        conds = [c for c in (self.conditions or []) if c.type != type_]
        old = self.get_condition(type_)
        new = Condition(type=str(type_), status=str(status), reason=reason, message=message)
        if (
            old is not None
            and old.status == new.status
            and old.reason == new.reason
            and old.message == new.message
        ):
            new.last_transition_time = old.last_transition_time
        else:
            new.last_transition_time = format_time(now)
        conds.append(new)
        self.conditions = sorted(conds, key=lambda c: c.type)

    def mark_true(self, type_: str, now: datetime) -> None:
        self.set_condition(type_, ConditionStatus.TRUE, REASON_SUCCESSFUL, REASON_SUCCESSFUL, now)

    def mark_true_with_reason(self, type_: str, reason: str, message: str, now: datetime) -> None:
        self.set_condition(type_, ConditionStatus.TRUE, reason, message, now)

    def mark_false(self, type_: str, reason: str, message: str, now: datetime) -> None:
        self.set_condition(type_, ConditionStatus.FALSE, reason, message, now)

    def mark_unknown(self, type_: str, reason: str, message: str, now: datetime) -> None:
        self.set_condition(type_, ConditionStatus.UNKNOWN, reason, message, now)

    def is_ready(self) -> bool:
        """True iff there is at least one condition and all are True."""
        conds = self.conditions or []
        return bool(conds) and all(c.status == ConditionStatus.TRUE for c in conds)
