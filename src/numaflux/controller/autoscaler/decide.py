"""The autoscaler's decision for one vertex, as a pure function of what it observed and the time.

NumaFlow's ``scaleOneVertex`` and ``desiredReplicas`` (reference §5.2, §5.3), with three of its open
bugs fixed and its scale-down under a steady input bounded:

- a vertex is never left below ``scale.min`` for lack of traffic (#2220): being out of [min, max] is
  corrected before anything else, including the "nothing pending at 0 replicas" rule;
- messages in flight (ack-pending) are not backlog (#630): ``pending`` is what no replica has taken yet,
  so slow messages alone never make the formula ask for more replicas; while any are in flight a vertex
  with nothing pending and no completed reads keeps its replicas (it is neither scaled out nor to 0);
- replicas that are not ready yet are not counted, and a scale-up waits for them (#1853); a scale-up that
  did not raise the processing rate is not repeated until the rate follows or ``lookback + scale-up
  cooldown`` has passed since it; and no decision uses a rate whose lookback window still spans the last
  scale (it would credit each replica with the previous count's throughput and overshoot both ways);
- a scale-down stops at the replicas the current rate needs at the per-replica capacity measured while
  the vertex was saturated (`Capacity`): the processing-time formula drains the backlog and then asks
  for 1 replica, so without it a steady input makes the vertex climb and fall for ever.

The result is a `Decision`: the replicas to write into ``spec.replicas`` (None: leave it), why, and the
inputs that led there (for the Event and the log line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from numaflux.api import Pipeline, Vertex, naming
from numaflux.api import constants as c
from numaflux.controller.autoscaler.cron import CronError, cron_bounds
from numaflux.controller.pipeline.lifecycle import parse_time
from numaflux.isb.info import BufferInfo

BACK_PRESSURE_THRESHOLD = 0.9
"""A downstream buffer at this fraction of its usage limit blocks scale-ups upstream (NumaFlow's 0.9)."""
DISCARD_LATEST = "discardLatest"
RATE_FOLLOW_FRACTION = 0.5
"""After a scale-up the rate must rise by this fraction of the per-replica rate times the added replicas
before another scale-up counts on it."""
CAPACITY_HEADROOM = 1.05
"""The capacity floor provides this much more than the current rate (the measured capacity is noisy)."""
CAPACITY_TTL_SECONDS = 600.0
CAPACITY_TTL_LOOKBACKS = 30
"""A capacity is forgotten after max(CAPACITY_TTL_SECONDS, CAPACITY_TTL_LOOKBACKS * lookbackSeconds)
without a newer saturated measurement, so an estimate that became too low cannot hold replicas for ever."""


class Model(StrEnum):
    """How the desired replica count was reached."""

    PROCESSING_TIME = "processing-time"
    BUFFER_AVAILABILITY = "buffer-availability"
    BUFFER_FULL = "buffer-full"
    IDLE = "idle"
    """Nothing pending and nothing read: desired 0 (then clamped to min)."""
    OUT_OF_RANGE = "out-of-range"
    WAKE = "wake"
    """At 0 replicas with messages waiting in the vertex's buffers."""
    PEEK = "peek"
    """A source at 0 replicas after ``zeroReplicaSleepSeconds``: one replica to look for messages."""
    BACK_PRESSURE = "back-pressure"
    CAPACITY_FLOOR = "capacity-floor"
    """A scale-down that stopped above the formula's count at the replicas the current rate needs."""
    CRON = "cron"
    """A source outside its active ``scale.cron`` window's bounds."""


class Skip(StrEnum):
    """Why a visit left ``spec.replicas`` alone."""

    NOT_SCALABLE = "NotScalable"
    NOT_RUNNING = "NotRunning"
    DESIRED_NOT_RUNNING = "DesiredPhaseNotRunning"
    PIPELINE_NOT_RUNNING = "PipelineNotRunning"
    ROLLING_UPDATE = "RollingUpdate"
    NOT_CONVERGED = "NotConverged"
    MIN_EQUALS_MAX = "MinEqualsMax"
    COOLDOWN = "Cooldown"
    NO_PENDING_AT_ZERO = "NothingPendingAtZero"
    ZERO_REPLICA_SLEEP = "ZeroReplicaSleep"
    NO_READY_REPLICAS = "NoReadyReplicas"
    NO_METRICS = "NoMetrics"
    IN_FLIGHT = "MessagesInFlight"
    RATE_LIMITED = "RateLimited"
    WAITING_FOR_READY = "WaitingForReadyReplicas"
    RATE_NOT_FOLLOWING = "RateNotFollowing"
    RATE_WINDOW = "RateWindowSpansLastScale"
    BACK_PRESSURE = "BackPressure"
    CAPACITY_FLOOR = "CapacityFloor"
    """The formula asks for fewer replicas than the current rate needs at the measured capacity."""
    STEP_ZERO = "StepZero"
    NO_CHANGE = "NoChange"


@dataclass(frozen=True, slots=True)
class PartitionLoad:
    """The daemon's numbers for one partition: rate (msg/s) and average pending over the lookback;
    None where the daemon has none yet. Pending excludes messages in flight (ack-pending)."""

    rate: float | None
    pending: int | None


@dataclass(frozen=True, slots=True)
class ScaleUp:
    """A scale-up this autoscaler made: from/to replicas, the rate it saw then, and when."""

    from_replicas: int
    to_replicas: int
    rate: float
    at: datetime

    def rate_followed(self, rate: float) -> bool:
        """Whether `rate` shows the added replicas working."""
        if self.from_replicas <= 0 or self.rate <= 0:
            return rate > self.rate
        per_replica = self.rate / self.from_replicas
        added = self.to_replicas - self.from_replicas
        return rate >= self.rate + RATE_FOLLOW_FRACTION * per_replica * added


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one replica of a vertex processed per second while the vertex was saturated, when, at how
    many replicas, and with which pod spec (``status.currentHash``: a rollout may change the speed)."""

    per_replica: float
    replicas: int
    at: datetime
    pod_hash: str | None = None

    def valid(self, vertex: Vertex, now: datetime) -> bool:
        """Not expired and measured on the pods the vertex runs now."""
        lookback = vertex.spec.get_scale().get_lookback_seconds()
        ttl = max(CAPACITY_TTL_SECONDS, CAPACITY_TTL_LOOKBACKS * lookback)
        age = (now - self.at).total_seconds()
        current_hash = vertex.get_status().current_hash or None
        return self.per_replica > 0 and 0 <= age < ttl and self.pod_hash == current_hash

    def floor(self, rate: float, lo: int, hi: int) -> int:
        """The replicas `rate` needs at this capacity (with `CAPACITY_HEADROOM`), within [lo, hi]."""
        return min(max(math.ceil(rate * CAPACITY_HEADROOM / self.per_replica), lo), hi)


@dataclass(frozen=True, slots=True)
class LoadHistory:
    """What earlier visits saw of a vertex's load (kept per vertex by the autoscaler, like `ScaleUp`)."""

    pending: int | None = None
    """The pending count of the last visit that read it."""
    backlog_since: datetime | None = None
    """The first of the consecutive visits, up to the last one, that saw messages pending."""
    capacity: Capacity | None = None


@dataclass(frozen=True, slots=True)
class BackPressure:
    direct: bool = False
    """A buffer this vertex writes to is (nearly) full."""
    downstream: bool = False
    """A buffer further downstream is."""
    buffer: str | None = None
    usage: float = 0.0
    """The fullest downstream buffer's share of its usage limit (what the 0.9 threshold is about)."""


@dataclass(frozen=True)
class Observed:
    """Everything one decision reads. `partitions` and `buffers` are None when the daemon was not read
    (the decision then stops before needing them)."""

    vertex: Vertex
    pipeline_desired_phase: str
    now: datetime
    partitions: Sequence[PartitionLoad] | None = None
    buffers: Sequence[BufferInfo] | None = None
    """The vertex's own (input) buffers."""
    back_pressure: BackPressure = field(default_factory=BackPressure)
    last_scale_up: ScaleUp | None = None
    history: LoadHistory | None = None
    ready_at: Sequence[datetime] | None = None
    """When each ready pod of the vertex became ready (None: unknown, taken as long ago)."""


@dataclass(frozen=True)
class Decision:
    """`replicas` is what to write into spec.replicas, or None to leave it (then `skip` says why)."""

    current: int
    replicas: int | None
    skip: Skip | None = None
    model: Model | None = None
    message: str = ""
    rate: float | None = None
    pending: int | None = None
    ack_pending: int | None = None
    ready: int = 0
    formula: int | None = None
    """The formula's result before clamping and step limits."""
    floor: int | None = None
    """The replicas the current rate needs at the measured per-replica `capacity` (None: none known)."""
    capacity: float | None = None

    @property
    def scales(self) -> bool:
        return self.replicas is not None and self.replicas != self.current

    @property
    def reason(self) -> str:
        """The Event reason: ScaleUp / ScaleDown, or the skip."""
        if self.skip is not None:
            return self.skip.value
        if self.replicas is None or self.replicas == self.current:
            return Skip.NO_CHANGE.value
        return "ScaleUp" if self.replicas > self.current else "ScaleDown"

    def summary(self) -> str:
        """`from 2 to 4 (model processing-time): rate=… pending=… ackPending=… ready=…`."""
        head = f"from {self.current} to {self.replicas}" if self.scales else f"skipped at {self.current}"
        parts = [
            f"model={self.model.value}" if self.model else None,
            f"rate={self.rate:.2f}/s" if self.rate is not None else None,
            f"pending={self.pending}" if self.pending is not None else None,
            f"ackPending={self.ack_pending}" if self.ack_pending is not None else None,
            f"ready={self.ready}",
            f"formula={self.formula}" if self.formula is not None else None,
            f"floor={self.floor}" if self.floor is not None else None,
            f"capacity={self.capacity:.2f}/s" if self.capacity is not None else None,
        ]
        text = f"{head}: " + " ".join(p for p in parts if p)
        return f"{text}; {self.message}" if self.message else text


def round_half_away(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() would round 2.5 to 2)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _rounded(value: float, pending: int) -> int:
    """`value` rounded, capped at `pending` first (so a rate near zero cannot overflow)."""
    return round_half_away(min(value, float(pending)))


def desired_replicas(
    vertex: Vertex, partitions: Sequence[PartitionLoad], ready: int, buffer_length: int, usage_limit: float
) -> tuple[int, Model]:
    """NumaFlow's ``desiredReplicas`` (reference §5.3) and the model of the partition that decided it.

    Sources use the processing-time model; other vertices use it while pending fits in the part of the
    buffer that should stay free, the buffer-availability model above that, and ``replicas +
    replicasPerScaleUp`` once pending reaches the usage limit.
    """
    scale = vertex.spec.get_scale()
    target_seconds = scale.get_target_processing_seconds()
    limit = int(buffer_length * usage_limit)
    target_available = int(buffer_length * scale.get_target_buffer_availability() / 100)
    current = vertex.get_status().replicas or 0
    best, best_model, decided = 1, Model.PROCESSING_TIME, False
    for p in partitions:
        rate, pending = p.rate or 0.0, p.pending or 0
        if pending == 0 or rate == 0:
            continue
        if vertex.is_source() or pending <= buffer_length - target_available:
            d = _rounded(pending / rate / target_seconds * ready, pending)
            model = Model.PROCESSING_TIME
        elif pending >= limit:
            d = current + scale.get_replicas_per_scale_up()
            model = Model.BUFFER_FULL
        else:
            contribution = (limit - pending) / ready
            d = _rounded(target_available / contribution, pending)
            model = Model.BUFFER_AVAILABILITY
        if d == 0:
            d = 1
        if d > pending > 0:
            d = pending
        if d > best or not decided:
            best, best_model, decided = max(best, d), model, True
    return best, best_model


def back_pressure(
    pipeline: Pipeline,
    vertex: str,
    buffers: Mapping[str, BufferInfo],
    threshold: float = BACK_PRESSURE_THRESHOLD,
) -> BackPressure:
    """Whether a buffer downstream of `vertex` (DFS over edges, ``onFull: discardLatest`` edges ignored)
    holds at least `threshold` of its usage limit: messages not yet acknowledged over
    ``bufferLength * usageLimit``, summed over the partitions of the vertex it feeds."""
    downstream: str | None = None
    fullest, fullest_name = 0.0, None
    for edge in pipeline.downstream_edges(vertex):
        if edge.get_on_full() == DISCARD_LATEST:
            continue
        to = pipeline.get_vertex(edge.get_to())
        if to is None:
            continue
        names = [
            naming.buffer_name(pipeline.namespace, pipeline.name, to.get_name(), i)
            for i in range(to.get_partition_count())
        ]
        infos = [buffers[n] for n in names if n in buffers]
        if not infos:
            continue
        held = sum(b.pending + b.ack_pending for b in infos)
        capacity = sum(b.buffer_length * b.usage_limit for b in infos)
        usage = held / capacity if capacity > 0 else 0.0
        if usage > fullest:
            fullest, fullest_name = usage, names[0]
        if usage >= threshold:
            if edge.get_from() == vertex:
                return BackPressure(direct=True, downstream=True, buffer=names[0], usage=usage)
            downstream = downstream or names[0]
    return BackPressure(downstream=downstream is not None, buffer=downstream or fullest_name, usage=fullest)


def rate_limit_max(vertex: Vertex) -> float | None:
    """The vertex's ``limits.rateLimit.max`` in messages/s (a source's is per read batch), or None."""
    limits = vertex.spec.get_limits()
    rate_limit = limits.rate_limit
    if rate_limit is None or rate_limit.max is None:
        return None
    return float(rate_limit.max * (limits.get_read_batch_size() if vertex.is_source() else 1))


def seconds_since_scaled(vertex: Vertex, now: datetime) -> float:
    """Seconds since ``status.lastScaledAt`` (else the creation time); infinite if neither is known."""
    at = parse_time(vertex.get_status().last_scaled_at) or parse_time(
        vertex.metadata.creation_timestamp if vertex.metadata else None
    )
    return math.inf if at is None else (now - at).total_seconds()


def effective_bounds(vertex: Vertex, now: datetime) -> tuple[int, int, bool]:
    """(min, max, cron window active): a source's active ``scale.cron`` window narrows ``[min, max]``
    (kept inside them: the Vertex controller clamps to them anyway); an unparsable cron is ignored."""
    scale = vertex.spec.get_scale()
    lo, hi = scale.get_min_replicas(), scale.get_max_replicas()
    if not vertex.is_source() or scale.cron is None:
        return lo, hi, False
    try:
        window = cron_bounds(scale, now)
    except CronError:
        return lo, hi, False
    if window is None:
        return lo, hi, False
    clo, chi = (min(max(v, lo), hi) for v in window)
    return clo, max(clo, chi), True


def pre_check(vertex: Vertex, pipeline_desired_phase: str, now: datetime) -> Decision | None:
    """The checks that need no metrics (reference §5.2 up to reading the daemon): a `Decision` when the
    visit ends here, else None. Out-of-range replicas are corrected here, before cooldowns (#2220)."""
    status = vertex.get_status()
    current = status.replicas or 0
    ready = status.ready_replicas or 0

    def skip(why: Skip, message: str = "") -> Decision:
        return Decision(current, None, why, message=message, ready=ready)

    if not vertex.scalable():
        return skip(Skip.NOT_SCALABLE)
    if status.phase != c.VertexPhase.RUNNING.value:
        return skip(Skip.NOT_RUNNING, f"phase {status.phase or 'unknown'}")
    if vertex.spec.get_lifecycle().get_desired_phase() != c.VertexPhase.RUNNING.value:
        return skip(Skip.DESIRED_NOT_RUNNING)
    if pipeline_desired_phase != c.PipelinePhase.RUNNING.value:
        return skip(Skip.PIPELINE_NOT_RUNNING)
    if status.update_hash and status.update_hash != status.current_hash:
        return skip(Skip.ROLLING_UPDATE)
    if (status.replicas or 0) != (status.desired_replicas or 0):
        return skip(Skip.NOT_CONVERGED, f"replicas {status.replicas} desired {status.desired_replicas}")
    scale = vertex.spec.get_scale()
    lo, hi = scale.get_min_replicas(), scale.get_max_replicas()
    spec_replicas = 1 if vertex.spec.replicas is None else vertex.spec.replicas
    for value in (current, spec_replicas):
        if value < lo or value > hi:
            target = min(max(value, lo), hi)
            return Decision(
                value,
                target,
                model=Model.OUT_OF_RANGE,
                message=f"outside [{lo}, {hi}]",
                ready=ready,
            )
    since = seconds_since_scaled(vertex, now)
    up, down = scale.get_scale_up_cooldown_seconds(), scale.get_scale_down_cooldown_seconds()
    lo, hi, cron = effective_bounds(vertex, now)
    if cron and not lo <= current <= hi:  # a cron window moves the source in steps, after cooldowns
        message = f"cron window [{lo}, {hi}]"
        if current < lo:
            if since < up:
                return skip(Skip.COOLDOWN, f"{since:.0f}s since the last scale; {message}")
            step = min(lo - current, scale.get_replicas_per_scale_up())
        else:
            if since < down:
                return skip(Skip.COOLDOWN, f"{since:.0f}s since the last scale; {message}")
            step = -min(current - hi, scale.get_replicas_per_scale_down())
        if step == 0:
            return skip(Skip.STEP_ZERO, message)
        return Decision(current, current + step, model=Model.CRON, message=message, ready=ready)
    if lo == hi:
        return skip(Skip.MIN_EQUALS_MAX)
    if since < up and since < down:
        return skip(Skip.COOLDOWN, f"{since:.0f}s since the last scale")
    return None


def decide(obs: Observed) -> Decision:
    """The decision for one visit (reference §5.2 with the fixes in this module's docstring)."""
    vertex = obs.vertex
    early = pre_check(vertex, obs.pipeline_desired_phase, obs.now)
    if early is not None:
        return early
    status = vertex.get_status()
    scale = vertex.spec.get_scale()
    lo, hi, _ = effective_bounds(vertex, obs.now)
    current = status.replicas or 0
    ready = min(status.ready_replicas or 0, current)
    since = seconds_since_scaled(vertex, obs.now)
    buffers = list(obs.buffers or [])
    buffer_pending = sum(b.pending for b in buffers)
    ack_pending = sum(b.ack_pending for b in buffers)
    seen = Decision(current, None, ready=ready, ack_pending=ack_pending if buffers else None)

    def skip(why: Skip, message: str = "") -> Decision:
        return replace(seen, skip=why, message=message)

    def scale_to(replicas: int, message: str = "") -> Decision:
        return replace(seen, replicas=replicas, message=message)

    if current == 0:
        if not vertex.is_source():
            seen = replace(seen, pending=buffer_pending)
            if buffer_pending + ack_pending > 0:
                return replace(scale_to(1), model=Model.WAKE)
            return skip(Skip.NO_PENDING_AT_ZERO)
        if since >= scale.get_zero_replica_sleep_seconds():
            return replace(scale_to(1, f"{since:.0f}s at 0"), model=Model.PEEK)
        return skip(Skip.ZERO_REPLICA_SLEEP, f"{since:.0f}s at 0")
    if ready == 0:
        return skip(Skip.NO_READY_REPLICAS)
    partitions = list(obs.partitions or [])
    if not partitions or any(p.rate is None or p.rate < 0 for p in partitions):
        return skip(Skip.NO_METRICS, "no rate information")
    if any(p.pending is None or p.pending < 0 for p in partitions):
        return skip(Skip.NO_METRICS, "no pending information")
    rate = sum(p.rate or 0.0 for p in partitions)
    pending = sum(p.pending or 0 for p in partitions)
    seen = replace(seen, rate=rate, pending=pending)
    if since < scale.get_lookback_seconds():
        # The rate still includes time at the previous replica count: rate / ready would credit each
        # replica with the old count's throughput and the next step would overshoot (#1853's oscillation).
        return skip(
            Skip.RATE_WINDOW, f"{since:.0f}s since the last scale, lookback {scale.get_lookback_seconds()}s"
        )
    limits = vertex.spec.get_limits()
    if pending == 0 and rate == 0:
        if ack_pending > 0:  # slow messages still being processed: neither more replicas nor none
            return skip(Skip.IN_FLIGHT, f"{ack_pending} messages in flight")
        formula, model = 0, Model.IDLE
    else:
        length = buffers[-1].buffer_length if buffers else limits.get_buffer_max_length()
        usage = buffers[-1].usage_limit if buffers else limits.get_buffer_usage_limit_fraction()
        formula, model = desired_replicas(vertex, partitions, ready, length, usage)
    seen = replace(seen, formula=formula, model=model)
    capacity = obs.history.capacity if obs.history is not None else None
    floor = None
    if capacity is not None and capacity.valid(vertex, obs.now):
        floor = capacity.floor(rate, lo, hi)
        seen = replace(seen, floor=floor, capacity=capacity.per_replica)
    max_rate = rate_limit_max(vertex)
    if max_rate is not None and formula > current and math.ceil(rate) >= max_rate:
        return skip(Skip.RATE_LIMITED, f"rate at the limit {max_rate}/s")
    desired = min(max(formula, lo), hi)
    if desired < current and floor is not None and floor > desired:
        # The formula asks for fewer replicas than the rate needs: the backlog has drained and it will
        # grow again at the lower count (see the module docstring).
        why = (
            f"the rate needs {floor} at {capacity.per_replica:.2f}/s per replica "
            f"(measured at {capacity.replicas} replicas)"
            if capacity is not None
            else ""
        )
        if floor >= current:
            return skip(Skip.CAPACITY_FLOOR, why)
        desired, seen = floor, replace(seen, model=Model.CAPACITY_FLOOR, message=why)
    if desired < current:
        step = min(current - desired, scale.get_replicas_per_scale_down())
        if step <= 0:
            return skip(Skip.STEP_ZERO, "replicasPerScaleDown is 0")
        if since < scale.get_scale_down_cooldown_seconds():
            return skip(Skip.COOLDOWN, f"{since:.0f}s since the last scale")
        return replace(seen, replicas=current - step)
    if desired == current:
        return skip(Skip.NO_CHANGE)
    if (status.ready_replicas or 0) < current:  # #1853: count only replicas that are ready
        return skip(Skip.WAITING_FOR_READY, f"{status.ready_replicas or 0}/{current} ready")
    pressure = obs.back_pressure
    if pressure.direct:
        message = f"buffer {pressure.buffer} is full"
        if current > lo and current > 1:
            return replace(scale_to(current - 1, message), model=Model.BACK_PRESSURE)
        return skip(Skip.BACK_PRESSURE, message)
    if pressure.downstream:
        return skip(Skip.BACK_PRESSURE, f"downstream buffer {pressure.buffer} is full")
    last = obs.last_scale_up
    if last is not None and not last.rate_followed(rate):
        hold = scale.get_lookback_seconds() + scale.get_scale_up_cooldown_seconds()
        held = (obs.now - last.at).total_seconds()
        if held < hold:
            return skip(
                Skip.RATE_NOT_FOLLOWING,
                f"the scale-up {last.from_replicas}->{last.to_replicas} has not raised the rate "
                f"({last.rate:.2f}/s then); holding {hold - held:.0f}s more",
            )
    step = min(desired - current, scale.get_replicas_per_scale_up())
    if step <= 0:
        return skip(Skip.STEP_ZERO, "replicasPerScaleUp is 0")
    if since < scale.get_scale_up_cooldown_seconds():
        return skip(Skip.COOLDOWN, f"{since:.0f}s since the last scale")
    return scale_to(current + step)


def replica_seconds(ready: int, ready_at: Sequence[datetime] | None, now: datetime, window: float) -> float:
    """Replica-seconds of readiness in the `window` seconds before `now`: `ready` replicas, each counted
    from when it became ready (`ready_at`, newest first counted; unknown times count the whole window)."""
    known = sorted(ready_at or [], reverse=True)[:ready]
    total = window * (ready - len(known))
    for at in known:
        total += min(window, max(0.0, (now - at).total_seconds()))
    return total


def saturated(history: LoadHistory | None, obs: Observed, decision: Decision) -> bool:
    """Whether the visit's rate is what the vertex's ready replicas can process: the formula (past the
    rate-window rule) does not find the replicas too many, i.e. the backlog is about
    ``targetProcessingSeconds`` of work or more; it did not fall since the previous visit; every visit for
    the last ``lookbackSeconds`` saw a backlog (the rate window holds no idle time); all replicas are ready;
    and nothing else holds the rate back (a full buffer downstream, the vertex's rate limit)."""
    rate, pending, formula = decision.rate, decision.pending, decision.formula
    if rate is None or pending is None or formula is None or rate <= 0 or pending <= 0:
        return False
    current = decision.current
    status = obs.vertex.get_status()
    if current <= 0 or decision.ready < current or (status.ready_replicas or 0) < current:
        return False
    if formula < current or history is None or history.pending is None or pending < history.pending:
        return False
    lookback = obs.vertex.spec.get_scale().get_lookback_seconds()
    since = history.backlog_since
    if since is None or (obs.now - since).total_seconds() < lookback:
        return False
    if obs.back_pressure.downstream:
        return False
    max_rate = rate_limit_max(obs.vertex)
    return max_rate is None or math.ceil(rate) < max_rate


def learn(history: LoadHistory | None, obs: Observed, decision: Decision) -> LoadHistory:
    """The vertex's load history after this visit: its pending count and backlog run, and the per-replica
    capacity, measured on a `saturated` visit as the rate over the replica-seconds of readiness in the
    lookback window (replicas that became ready inside the window count from then). A newer measurement
    replaces the older one, up or down; an expired one, or one from other pods, is dropped."""
    previous = history or LoadHistory()
    capacity = previous.capacity
    if capacity is not None and not capacity.valid(obs.vertex, obs.now):
        capacity = None
    pending = decision.pending
    if pending is None or decision.rate is None:  # the daemon's numbers were not read or not used
        return replace(previous, capacity=capacity)
    since = (previous.backlog_since or obs.now) if pending > 0 else None
    updated = LoadHistory(pending, since, capacity)
    if saturated(replace(previous, backlog_since=since), obs, decision):
        lookback = obs.vertex.spec.get_scale().get_lookback_seconds()
        seconds = replica_seconds(decision.ready, obs.ready_at, obs.now, lookback)
        if seconds > 0:
            per_replica = decision.rate * lookback / seconds
            pod_hash = obs.vertex.get_status().current_hash or None
            updated = replace(updated, capacity=Capacity(per_replica, decision.ready, obs.now, pod_hash))
    return updated
