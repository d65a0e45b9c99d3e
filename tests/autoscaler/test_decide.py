"""The autoscaler's decision: NumaFlow's formula vectors, the visit's skip rules, the three fixes and the
capacity floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from numaflux.api import Pipeline, Vertex
from numaflux.controller.autoscaler.decide import (
    BackPressure,
    Capacity,
    Decision,
    LoadHistory,
    Model,
    Observed,
    PartitionLoad,
    ScaleUp,
    Skip,
    back_pressure,
    decide,
    desired_replicas,
    learn,
    replica_seconds,
    round_half_away,
)
from numaflux.isb.info import BufferInfo

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
LONG_AGO = "2026-01-01T11:00:00Z"


def vertex(
    kind: str = "udf",
    *,
    replicas: int = 3,
    ready: int | None = None,
    spec_replicas: int | None = None,
    scale: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    last_scaled_at: str = LONG_AGO,
    phase: str = "Running",
    desired: str = "Running",
) -> Vertex:
    body: dict[str, Any] = {"image": "x"}
    role = {
        "source": {"source": {"generator": {"rpu": 1}}},
        "udf": {"udf": {"container": body}},
        "sink": {"sink": {"log": {}}},
    }[kind]
    spec: dict[str, Any] = {
        "name": "v",
        "pipelineName": "pl",
        **role,
        "replicas": replicas if spec_replicas is None else spec_replicas,
        "scale": {"min": 1, "max": 50, **(scale or {})},
        "lifecycle": {"desiredPhase": desired},
    }
    if limits:
        spec["limits"] = limits
    return Vertex.model_validate(
        {
            "metadata": {"name": "pl-v", "namespace": "ns", "creationTimestamp": LONG_AGO},
            "spec": spec,
            "status": {
                "phase": phase,
                "replicas": replicas,
                "desiredReplicas": replicas,
                "readyReplicas": replicas if ready is None else ready,
                "lastScaledAt": last_scaled_at,
            },
        }
    )


def loads(rates: list[float], pendings: list[int]) -> list[PartitionLoad]:
    return [PartitionLoad(r, p) for r, p in zip(rates, pendings, strict=True)]


# NumaFlow's scaling_test.go fakeVertex: targetProcessingSeconds 5, bufferMaxLength 30000, usage limit
# 80 % (24000), targetBufferAvailability 10 % of the buffer free → the model switch at 3000 pending.
VECTOR_SCALE = {"targetProcessingSeconds": 5, "targetBufferAvailability": 90}


def test_numaflows_unit_test_vectors() -> None:
    rates = [250.0, 500.0, 750.0]
    src = vertex("source", replicas=3, ready=2, scale=VECTOR_SCALE)
    assert desired_replicas(src, loads(rates, [10010, 800, 1200]), 2, 30000, 0.8) == (
        16,
        Model.PROCESSING_TIME,
    )
    udf = vertex("udf", replicas=3, ready=2, scale=VECTOR_SCALE)
    assert desired_replicas(udf, loads(rates, [2789, 800, 1200]), 2, 30000, 0.8) == (
        4,
        Model.PROCESSING_TIME,
    )
    # 27000 / ((24000 - 3001) / 5) = 6.43
    assert desired_replicas(udf, loads(rates, [3001, 800, 1200]), 5, 30000, 0.8) == (
        6,
        Model.BUFFER_AVAILABILITY,
    )
    assert desired_replicas(udf, loads(rates, [8001, 3882, 4002]), 9, 30000, 0.8) == (
        15,
        Model.BUFFER_AVAILABILITY,
    )


def test_the_docs_example_and_the_full_buffer_and_the_pending_cap() -> None:
    # docs: T=3, 2 replicas at 10000 msg/s together, 60000 pending → 4
    src = vertex("source", replicas=2, scale={"targetProcessingSeconds": 3})
    assert desired_replicas(src, loads([10000.0], [60000]), 2, 30000, 0.8)[0] == 4
    udf = vertex("udf", replicas=3, scale={"replicasPerScaleUp": 4})
    assert desired_replicas(udf, loads([10.0], [24000]), 3, 30000, 0.8) == (7, Model.BUFFER_FULL)
    # never more replicas than pending messages, never 0 while something is pending
    assert desired_replicas(udf, loads([0.001], [3]), 3, 30000, 0.8)[0] == 3
    assert desired_replicas(udf, loads([1000.0], [1]), 3, 30000, 0.8)[0] == 1


def test_go_rounding_halves_away_from_zero() -> None:
    assert [round_half_away(x) for x in (0.5, 1.5, 2.5, 2.49, -2.5)] == [1, 2, 3, 2, -3]


def observe(v: Vertex, rate: float, pending: int, **kw: Any) -> Observed:
    return Observed(v, "Running", NOW, partitions=[PartitionLoad(rate, pending)], **kw)


def buf(
    pending: int = 0, ack: int = 0, length: int = 30000, limit: float = 0.8, name: str = "b"
) -> BufferInfo:
    return BufferInfo(name, pending, ack, pending + ack, length, limit)


def test_a_visit_stops_at_each_skip_rule_in_numaflows_order() -> None:
    busy = (100.0, 100000)
    assert decide(observe(vertex(phase="Paused"), *busy)).skip is Skip.NOT_RUNNING
    assert decide(observe(vertex(desired="Paused"), *busy)).skip is Skip.DESIRED_NOT_RUNNING
    paused_pl = Observed(vertex(), "Paused", NOW, partitions=[PartitionLoad(*busy)])
    assert decide(paused_pl).skip is Skip.PIPELINE_NOT_RUNNING
    rolling = vertex()
    rolling.get_status().update_hash, rolling.get_status().current_hash = "new", "old"
    assert decide(observe(rolling, *busy)).skip is Skip.ROLLING_UPDATE
    converging = vertex()
    converging.get_status().desired_replicas = 4
    assert decide(observe(converging, *busy)).skip is Skip.NOT_CONVERGED
    assert decide(observe(vertex(scale={"min": 3, "max": 3}), *busy)).skip is Skip.MIN_EQUALS_MAX
    recent = vertex(last_scaled_at="2026-01-01T11:59:30Z")
    assert decide(observe(recent, *busy)).skip is Skip.COOLDOWN
    disabled = vertex(scale={"disabled": True})
    assert decide(observe(disabled, *busy)).skip is Skip.NOT_SCALABLE
    no_rate = Observed(vertex(), "Running", NOW, partitions=[PartitionLoad(None, 10)])
    assert decide(no_rate).skip is Skip.NO_METRICS
    assert decide(observe(vertex(ready=0), *busy)).skip is Skip.NO_READY_REPLICAS


def test_a_scale_moves_by_the_step_and_is_clamped() -> None:
    up = decide(observe(vertex(replicas=3), 30.0, 10000))
    assert (up.current, up.replicas, up.reason, up.model) == (3, 5, "ScaleUp", Model.PROCESSING_TIME)
    assert "rate=30.00/s pending=10000 ready=3" in up.summary()
    capped = decide(observe(vertex(replicas=4, scale={"max": 5}), 30.0, 20000))
    assert capped.replicas == 5
    down = decide(observe(vertex(replicas=6, scale={"replicasPerScaleDown": 3}), 100.0, 10))
    assert (down.replicas, down.reason) == (3, "ScaleDown")
    idle = decide(observe(vertex(replicas=2, scale={"min": 0}), 0.0, 0))
    assert (idle.replicas, idle.model) == (0, Model.IDLE)


def test_scale_up_and_down_have_their_own_cooldowns() -> None:
    cool = {"scaleUpCooldownSeconds": 10, "scaleDownCooldownSeconds": 100, "lookbackSeconds": 30}
    at = "2026-01-01T11:59:00Z"  # 60 s ago
    assert decide(observe(vertex(replicas=3, scale=cool, last_scaled_at=at), 30.0, 20000)).replicas == 5
    down = decide(observe(vertex(replicas=3, scale=cool, last_scaled_at=at), 100.0, 1))
    assert down.skip is Skip.COOLDOWN


def test_2220_no_traffic_never_leaves_a_vertex_below_min() -> None:
    # NumaFlow skipped "no pending at 0 replicas" before looking at min
    at_zero = vertex(replicas=0, scale={"min": 1})
    d = decide(Observed(at_zero, "Running", NOW, buffers=[buf()]))
    assert (d.replicas, d.model) == (1, Model.OUT_OF_RANGE)
    # even inside a cooldown, and when only spec.replicas is below min
    stale = vertex(replicas=2, spec_replicas=0, scale={"min": 2}, last_scaled_at="2026-01-01T11:59:59Z")
    assert decide(Observed(stale, "Running", NOW)).replicas == 2
    # an idle vertex scales down to min, not to 0
    idle = decide(observe(vertex(replicas=3, scale={"min": 1}), 0.0, 0, buffers=[buf()]))
    assert idle.replicas == 1


def test_630_messages_in_flight_are_not_backlog() -> None:
    # The #630 spec: bufferMaxLength 500, usage limit 50 %, targetBufferAvailability 100. NumaFlow counted
    # messages being processed (ack-pending) as pending; with 100 slow messages in flight on 4 replicas
    # its buffer-availability model asks for round(500 / ((250 - 100) / 4)) = 13 replicas, and more on
    # each visit as the replicas take more messages:
    spec = {"targetBufferAvailability": 100, "replicasPerScaleUp": 20, "max": 200}
    v = vertex(replicas=4, scale=spec)
    assert desired_replicas(v, loads([0.01], [100]), 4, 500, 0.5)[0] == 13
    # here pending is what nobody has taken: with it at 0 the vertex holds while messages are in flight
    slow = decide(observe(v, 0.0, 0, buffers=[buf(0, 100, 500, 0.5)]))
    assert (slow.replicas, slow.skip, slow.ack_pending) == (None, Skip.IN_FLIGHT, 100)
    # and once some complete, the rate alone justifies no more than what is there
    done = decide(observe(v, 0.02, 0, buffers=[buf(0, 100, 500, 0.5)]))
    assert done.replicas is not None and done.replicas <= 4
    # nor is a vertex with work in flight scaled to zero
    at_min0 = vertex(replicas=1, scale={"min": 0})
    assert decide(observe(at_min0, 0.0, 0, buffers=[buf(0, 1)])).skip is Skip.IN_FLIGHT


def test_1853_a_scale_up_waits_for_ready_replicas_and_for_the_rate_to_follow() -> None:
    starting = vertex(replicas=4, ready=2)
    d = decide(observe(starting, 20.0, 20000))
    assert (d.replicas, d.skip) == (None, Skip.WAITING_FOR_READY)
    # a scale-down does not wait for slow starters
    assert decide(observe(vertex(replicas=4, ready=2), 100.0, 10)).replicas == 2

    v = vertex(replicas=4, scale={"lookbackSeconds": 60, "scaleUpCooldownSeconds": 30})
    last = ScaleUp(2, 4, rate=20.0, at=NOW - timedelta(seconds=45))
    same = decide(observe(v, 21.0, 20000, last_scale_up=last))
    assert same.skip is Skip.RATE_NOT_FOLLOWING
    assert "2->4" in same.message
    # the rate rose by half of what two more replicas should add (20/2 per replica): go on
    assert decide(observe(v, 30.0, 20000, last_scale_up=last)).replicas == 6
    # and after lookback + cooldown the hold ends even if the rate never followed
    old = ScaleUp(2, 4, rate=20.0, at=NOW - timedelta(seconds=91))
    assert decide(observe(v, 21.0, 20000, last_scale_up=old)).replicas == 6


def test_no_decision_uses_a_rate_window_that_spans_the_last_scale() -> None:
    # 8 replicas drained at 90 msg/s; 20 s ago the vertex went to 3. The 30 s window still holds the
    # 8-replica rate: 200 / (90 / 3) / 5 = 1.3 would take it to 1 while the backlog grows again.
    scale = {"lookbackSeconds": 30, "scaleDownCooldownSeconds": 5, "targetProcessingSeconds": 5}
    recent = vertex(replicas=3, scale=scale, last_scaled_at="2026-01-01T11:59:40Z")
    d = decide(observe(recent, 90.0, 200))
    assert (d.replicas, d.skip) == (None, Skip.RATE_WINDOW)
    later = vertex(replicas=3, scale=scale, last_scaled_at="2026-01-01T11:59:29Z")
    stays = decide(observe(later, 36.0, 200))  # round(200 / 12 / 5) = 3: the count is right
    assert (stays.skip, stays.formula) == (Skip.NO_CHANGE, 3)


def test_zero_replicas_wake_on_pending_and_sources_peek_after_the_sleep() -> None:
    udf = vertex(replicas=0, scale={"min": 0})
    assert decide(Observed(udf, "Running", NOW, buffers=[buf(0)])).skip is Skip.NO_PENDING_AT_ZERO
    woke = decide(Observed(udf, "Running", NOW, buffers=[buf(5)]))
    assert (woke.replicas, woke.model) == (1, Model.WAKE)
    src = vertex("source", replicas=0, scale={"min": 0, "zeroReplicaSleepSeconds": 120})
    assert decide(Observed(src, "Running", NOW)).replicas == 1  # an hour at 0
    fresh = vertex(
        "source",
        replicas=0,
        scale={"min": 0, "zeroReplicaSleepSeconds": 120, "scaleDownCooldownSeconds": 10},
        last_scaled_at="2026-01-01T11:59:00Z",
    )
    assert decide(Observed(fresh, "Running", NOW)).skip is Skip.ZERO_REPLICA_SLEEP


def test_back_pressure_scales_down_by_one_or_blocks() -> None:
    v = vertex(replicas=3)
    direct = decide(observe(v, 30.0, 20000, back_pressure=BackPressure(True, True, "ns-pl-out-0")))
    assert (direct.replicas, direct.model) == (2, Model.BACK_PRESSURE)
    at_min = vertex(replicas=1)
    blocked = decide(observe(at_min, 30.0, 20000, back_pressure=BackPressure(True, True, "b")))
    assert blocked.skip is Skip.BACK_PRESSURE
    further = decide(observe(v, 30.0, 20000, back_pressure=BackPressure(False, True, "b")))
    assert further.skip is Skip.BACK_PRESSURE


def test_a_rate_limited_vertex_does_not_scale_up() -> None:
    v = vertex(replicas=2, limits={"rateLimit": {"max": 30}})
    assert decide(observe(v, 30.0, 20000)).skip is Skip.RATE_LIMITED
    assert decide(observe(v, 10.0, 20000)).replicas == 4


def pipeline() -> Pipeline:
    return Pipeline.model_validate(
        {
            "metadata": {"name": "pl", "namespace": "ns"},
            "spec": {
                "vertices": [
                    {"name": "in", "source": {"generator": {}}},
                    {"name": "a", "udf": {"container": {"image": "x"}}},
                    {"name": "b", "udf": {"container": {"image": "x"}}},
                    {"name": "out", "sink": {"log": {}}},
                    {"name": "drop", "sink": {"log": {}}},
                ],
                "edges": [
                    {"from": "in", "to": "a"},
                    {"from": "a", "to": "b"},
                    {"from": "b", "to": "out"},
                    {"from": "a", "to": "drop", "onFull": "discardLatest"},
                ],
            },
        }
    )


def test_back_pressure_is_direct_or_downstream_and_ignores_discarding_edges() -> None:
    pl = pipeline()

    def infos(**pending: int) -> dict[str, BufferInfo]:
        names = {"a": 0, "b": 0, "out": 0, "drop": 0, **pending}
        return {f"ns-pl-{v}-0": buf(n, 0, 100, 0.8, f"ns-pl-{v}-0") for v, n in names.items()}

    def seen(vertex: str, **pending: int) -> tuple[bool, bool, str | None, float]:
        bp = back_pressure(pl, vertex, infos(**pending))
        return bp.direct, bp.downstream, bp.buffer if bp.downstream else None, round(bp.usage, 4)

    assert seen("in") == (False, False, None, 0)
    assert seen("in", b=72) == (False, True, "ns-pl-b-0", 0.9)
    assert seen("a", b=72) == (True, True, "ns-pl-b-0", 0.9)
    assert seen("a", b=71) == (False, False, None, 0.8875)
    assert seen("a", drop=80) == (False, False, None, 0)


# The benchmark's UDF: at most 10 msg/s per replica, input 35 msg/s.
FLOOR_SCALE = {
    "min": 1,
    "max": 8,
    "lookbackSeconds": 10,
    "targetProcessingSeconds": 5,
    "scaleUpCooldownSeconds": 5,
    "scaleDownCooldownSeconds": 5,
}


def visit(
    v: Vertex, rate: float, pending: int, history: LoadHistory | None, at: datetime, **kw: Any
) -> tuple[Decision, LoadHistory]:
    """One visit: the decision and the load history after it (what the scaler keeps per vertex)."""
    obs = Observed(v, "Running", at, partitions=[PartitionLoad(rate, pending)], history=history, **kw)
    d = decide(obs)
    return d, learn(history, obs, d)


def saturated_at_three(at: datetime = NOW) -> LoadHistory:
    """Visits every 2 s for 12 s at 3 replicas processing 30 msg/s, with the backlog growing 5 msg/s."""
    history = None
    for k in range(7):
        t = at - timedelta(seconds=12 - 2 * k)
        d, history = visit(vertex(replicas=3, scale=FLOOR_SCALE), 30.0, 200 + 10 * k, history, t)
        assert d.formula is not None and d.formula >= 4  # NumaFlow's formula asks for more
        if k < 5:  # the backlog has been seen for less than a lookback window (10 s)
            assert history.capacity is None
    assert history is not None
    return history


def test_the_capacity_floor_stops_the_drain_and_fall_cycle_and_lets_an_idle_vertex_go_to_min() -> None:
    history = saturated_at_three()
    assert history.capacity == Capacity(10.0, 3, NOW, None)
    assert (history.pending, history.backlog_since) == (260, NOW - timedelta(seconds=12))
    # at 7 replicas the backlog has drained: NumaFlow's formula asks for 1, the rate needs 4
    t = NOW + timedelta(seconds=30)
    seven, history = visit(vertex(replicas=7, scale=FLOOR_SCALE), 35.0, 0, history, t)
    assert (seven.formula, seven.floor, seven.replicas) == (1, 4, 5)
    assert (seven.reason, seven.model, seven.capacity) == ("ScaleDown", Model.CAPACITY_FLOOR, 10.0)
    assert "formula=1 floor=4 capacity=10.00/s" in seven.summary()
    assert "the rate needs 4 at 10.00/s per replica (measured at 3 replicas)" in seven.summary()
    assert history.capacity == Capacity(10.0, 3, NOW, None) and history.backlog_since is None
    five, history = visit(vertex(replicas=5, scale=FLOOR_SCALE), 35.0, 0, history, t)
    assert (five.replicas, five.model) == (4, Model.CAPACITY_FLOOR)
    four, history = visit(vertex(replicas=4, scale=FLOOR_SCALE), 35.0, 3, history, t)
    assert (four.replicas, four.skip, four.formula, four.floor) == (None, Skip.CAPACITY_FLOOR, 1, 4)
    # the floor follows the rate down, and a rate of 0 takes the vertex to min
    less, history = visit(vertex(replicas=4, scale=FLOOR_SCALE), 15.0, 0, history, t)
    assert (less.floor, less.replicas, less.model) == (2, 2, Model.CAPACITY_FLOOR)
    idle, history = visit(vertex(replicas=4, scale=FLOOR_SCALE), 0.0, 0, history, t)
    assert (idle.floor, idle.replicas, idle.model) == (1, 2, Model.IDLE)
    last, _ = visit(vertex(replicas=2, scale={**FLOOR_SCALE, "min": 0}), 0.0, 0, history, t)
    assert (last.floor, last.replicas) == (0, 0)
    # without a capacity it is NumaFlow's behaviour
    plain, _ = visit(vertex(replicas=7, scale=FLOOR_SCALE), 35.0, 0, None, t)
    assert (plain.floor, plain.replicas, plain.model) == (None, 5, Model.PROCESSING_TIME)


def test_a_capacity_is_measured_only_while_the_replicas_are_saturated() -> None:
    t = NOW + timedelta(seconds=30)
    # a draining backlog (pending fell since the previous visit) is not saturation
    history = LoadHistory(300, NOW - timedelta(seconds=20))
    d, drained = visit(vertex(replicas=3, scale=FLOOR_SCALE), 30.0, 290, history, t)
    assert d.formula is not None and d.formula >= 3 and drained.capacity is None
    assert (drained.pending, drained.backlog_since) == (290, history.backlog_since)
    _, grew = visit(vertex(replicas=3, scale=FLOOR_SCALE), 30.0, 300, history, t)
    assert grew.capacity == Capacity(10.0, 3, t, None)
    # a backlog the formula finds too small for the replicas: they may have waited for messages
    _, small = visit(vertex(replicas=7, scale=FLOOR_SCALE), 35.0, 40, LoadHistory(30, NOW), t)
    assert small.capacity is None
    # a backlog seen for less than a lookback window: the window may hold idle time
    _, young = visit(vertex(replicas=3, scale=FLOOR_SCALE), 30.0, 300, LoadHistory(200, t), t)
    assert young.capacity is None
    # replicas not all ready, a full buffer downstream, the vertex's rate limit
    _, starting = visit(vertex(replicas=3, ready=2, scale=FLOOR_SCALE), 20.0, 300, history, t)
    assert starting.capacity is None
    full = BackPressure(False, True, "b")
    _, held = visit(vertex(replicas=3, scale=FLOOR_SCALE), 30.0, 300, history, t, back_pressure=full)
    assert held.capacity is None
    limited = vertex(replicas=3, scale=FLOOR_SCALE, limits={"rateLimit": {"max": 30}})
    _, capped = visit(limited, 30.0, 300, history, t)
    assert capped.capacity is None
    # inside the rate window of the last scale nothing is measured (nor decided)
    recent = vertex(replicas=3, scale=FLOOR_SCALE, last_scaled_at="2026-01-01T12:00:25Z")
    d, spans = visit(recent, 30.0, 300, history, t)
    assert d.skip is Skip.RATE_WINDOW and spans.capacity is None and spans.pending == 300


def test_replicas_that_became_ready_inside_the_window_count_from_then() -> None:
    # 1 → 3 replicas; the two new ones were ready 4 s before the visit: 10 + 2 * 4 = 18 replica-seconds
    assert replica_seconds(3, None, NOW, 10) == 30  # unknown: ready for the whole window
    assert replica_seconds(3, [NOW - timedelta(seconds=4)], NOW, 10) == 24
    ready_at = [NOW - timedelta(seconds=60), NOW - timedelta(seconds=4), NOW - timedelta(seconds=4)]
    assert replica_seconds(3, ready_at, NOW, 10) == 18
    assert replica_seconds(2, ready_at, NOW, 10) == 8  # the newest `ready` pods
    t = NOW + timedelta(seconds=30)
    at = [t - timedelta(seconds=60), t - timedelta(seconds=4), t - timedelta(seconds=4)]
    history = LoadHistory(290, NOW - timedelta(seconds=20))
    _, h = visit(vertex(replicas=3, scale=FLOOR_SCALE), 18.0, 300, history, t, ready_at=at)
    assert h.capacity == Capacity(10.0, 3, t, None)


def test_a_capacity_is_replaced_by_a_newer_one_and_forgotten_after_its_time_or_a_rollout() -> None:
    history = saturated_at_three()
    # a newer saturated visit replaces it, up as well as down
    t = NOW + timedelta(seconds=40)
    newer = LoadHistory(290, NOW + timedelta(seconds=20), history.capacity)
    _, faster = visit(vertex(replicas=4, scale=FLOOR_SCALE), 60.0, 400, newer, t)
    assert faster.capacity == Capacity(15.0, 4, t, None)
    # a capacity older than max(600 s, 30 lookbacks) is forgotten: NumaFlow's behaviour again
    late = NOW + timedelta(seconds=600)
    d, forgot = visit(vertex(replicas=7, scale=FLOOR_SCALE), 35.0, 0, history, late)
    assert (d.floor, d.replicas, forgot.capacity) == (None, 5, None)
    early = NOW + timedelta(seconds=599)
    assert visit(vertex(replicas=7, scale=FLOOR_SCALE), 35.0, 0, history, early)[0].floor == 4
    # measured on other pods (a rollout since): forgotten
    rolled = vertex(replicas=7, scale=FLOOR_SCALE)
    rolled.get_status().current_hash = "new"
    d, forgot = visit(rolled, 35.0, 0, history, early)
    assert (d.floor, d.replicas, forgot.capacity) == (None, 5, None)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["source", "udf", "sink"]),
    lo=st.integers(0, 10),
    span=st.integers(0, 20),
    current=st.integers(0, 40),
    ready=st.integers(0, 40),
    up=st.integers(1, 5),
    down=st.integers(1, 5),
    parts=st.lists(st.tuples(st.floats(0, 1e5), st.integers(0, 10**6)), min_size=1, max_size=4),
    ack=st.integers(0, 1000),
    pressure=st.sampled_from([BackPressure(), BackPressure(False, True, "b"), BackPressure(True, True, "b")]),
    capacity=st.none() | st.floats(0.001, 1e5),
)
def test_a_decision_stays_in_min_max_and_moves_at_most_a_step(
    kind: str,
    lo: int,
    span: int,
    current: int,
    ready: int,
    up: int,
    down: int,
    parts: list[tuple[float, int]],
    ack: int,
    pressure: BackPressure,
    capacity: float | None,
) -> None:
    hi = lo + span
    scale = {"min": lo, "max": hi, "replicasPerScaleUp": up, "replicasPerScaleDown": down}
    current = min(max(current, lo), hi)  # the vertex controller keeps status.replicas in range
    v = vertex(kind, replicas=current, ready=min(ready, current), scale=scale)
    obs = Observed(
        v,
        "Running",
        NOW,
        partitions=[PartitionLoad(r, p) for r, p in parts],
        buffers=[buf(sum(p for _, p in parts), ack)],
        back_pressure=pressure,
        history=None if capacity is None else LoadHistory(capacity=Capacity(capacity, 1, NOW)),
    )
    d = decide(obs)
    if d.replicas is not None:
        assert lo <= d.replicas <= hi
        if d.model is not Model.OUT_OF_RANGE:
            assert -down <= d.replicas - current <= up
        # a scale-down by the formula never goes below the replicas the rate needs at the capacity
        if d.floor is not None and d.replicas < current and d.model is not Model.BACK_PRESSURE:
            assert d.replicas >= d.floor
    assert (d.floor is not None) == (capacity is not None and d.formula is not None)
    learn(obs.history, obs, d)
