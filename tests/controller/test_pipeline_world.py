"""A simulated pipeline world driven only by the pure decision functions, and properties over it.

The world holds a Pipeline, its Vertex objects, pod counts and buffer backlogs. A *tick* is one pipeline
reconcile (plan_vertex_updates → decide → check_consistency, applied in the documented order), one
vertex-controller pass (pods follow ``calculate_replicas()``), one second of data flow, and time passing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numaflux.api import Pipeline, PipelineStatus, Vertex, VertexLifecycle, VertexStatus
from numaflux.api import constants as c
from numaflux.controller.pipeline.actions import VertexPatch
from numaflux.controller.pipeline.build import build_vertices, plan_vertex_updates, vertex_hash
from numaflux.controller.pipeline.lifecycle import decide
from numaflux.controller.pipeline.repair import check_consistency
from numaflux.isb.info import BufferInfo

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
GRACE = 5
SCALES = {"in": (0, 4), "cat": (1, 5), "out": (2, 6)}
RATE = 10
PHASES = ["", "Running", "Failed", "Pausing", "Paused", "Deleting"]


def make_pipeline(desired: str = "Running", args: int = 0) -> Pipeline:
    return Pipeline.model_validate(
        {
            "metadata": {"name": "pl", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {
                "lifecycle": {"desiredPhase": desired, "pauseGracePeriodSeconds": GRACE},
                "vertices": [
                    {"name": "in", "source": {"generator": {}}, "scale": {"min": 0, "max": 4}},
                    {
                        "name": "cat",
                        "udf": {"container": {"image": "cat", "args": [str(args)]}},
                        "scale": {"min": 1, "max": 5},
                    },
                    {"name": "out", "sink": {"log": {}}, "scale": {"min": 2, "max": 6}},
                ],
                "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
            },
        }
    )


def clamp(n: int | None, name: str) -> int:
    lo, hi = SCALES[name]
    return max(lo, min(1 if n is None else n, hi))


@dataclass
class World:
    pl: Pipeline
    now: datetime = T0
    vertices: dict[str, Vertex] = field(default_factory=dict)
    pods: dict[str, int] = field(default_factory=dict)
    backlog: dict[str, int] = field(default_factory=lambda: {"ns-pl-cat-0": 0, "ns-pl-out-0": 0})
    isb_down: bool = False
    args: int = 0
    lagging: dict[str, datetime] = field(default_factory=dict)
    last_patches: list[VertexPatch] = field(default_factory=list)
    last_requeue: float | None = None

    # --- user actions -------------------------------------------------------------------------------
    def set_desired(self, phase: str, strategy: str | None = None) -> None:
        self.pl.spec.lifecycle.desired_phase = phase  # type: ignore[union-attr]
        if strategy is not None:
            annotations = dict(self.pl.metadata.annotations or {})
            annotations[c.KEY_RESUME_STRATEGY] = strategy
            self.pl.metadata.annotations = annotations

    def scale(self, short: str, n: int) -> None:
        v = self.vertices.get(f"pl-{short}")
        if v is not None:
            v.spec.replicas = n
            v.metadata.generation = (v.metadata.generation or 1) + 1

    def update_spec(self) -> None:
        self.args += 1
        self.pl.spec.vertices[1].udf.container.args = [str(self.args)]  # type: ignore[index,union-attr]

    # --- controllers ----------------------------------------------------------------------------------
    def buffers(self) -> dict[str, BufferInfo] | None:
        if self.isb_down:
            return None
        return {b: BufferInfo(b, n, 0, n, 30000, 0.8) for b, n in self.backlog.items()}

    def reconcile_pipeline(self, scramble: str | None = None) -> None:
        if scramble is not None:
            self.pl.get_status().phase = scramble
        plan = plan_vertex_updates(self.pl, list(self.vertices.values()))
        for v in plan.creates:
            v.metadata.generation = 1
            self.vertices[v.name] = v
            self.pods.setdefault(v.name, 0)
        for v in plan.updates:
            v.metadata.generation = (v.metadata.generation or 1) + 1
            self.vertices[v.name] = v
        for name in plan.deletes:
            del self.vertices[name]
        vs = list(self.vertices.values())
        sources_up = any(self.pods.get(v.name, 0) > 0 for v in vs if v.is_source())
        d = decide(
            self.pl,
            vs,
            source_pods_running=sources_up,
            buffers=self.buffers(),
            buffers_error="isb down" if self.isb_down else None,
            now=self.now,
        )
        r = check_consistency(self.pl, vs, live_pods=self.pods, lagging_since=self.lagging, now=self.now)
        self.lagging = r.lagging_since
        for p in d.vertex_patches + r.vertex_patches:
            v = self.vertices[p.vertex]
            v.spec.lifecycle = VertexLifecycle(desired_phase=p.desired_phase)
            if p.remove_replicas:
                v.spec.replicas = None
            v.metadata.generation = (v.metadata.generation or 1) + 1
        annotations = dict(self.pl.metadata.annotations or {})
        for key, value in d.annotations.items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        self.pl.metadata.annotations = annotations
        d.apply_to_status(self.pl.get_status())
        if self.isb_down:
            self.pl.get_status().phase = "Failed"  # what status.pipeline_status reports during the outage
        self.last_patches = d.vertex_patches + r.vertex_patches
        self.last_requeue = d.requeue_after

    def reconcile_vertices(self) -> None:
        for v in self.vertices.values():
            n = v.calculate_replicas()
            self.pods[v.name] = n
            v.status = VertexStatus(replicas=n, observed_generation=v.metadata.generation, phase="Running")

    def flow(self) -> None:
        """Each pod moves up to RATE messages a second out of the buffer it reads."""
        if self.isb_down:
            return
        moved = min(self.backlog["ns-pl-cat-0"], RATE * self.pods.get("pl-cat", 0))
        self.backlog["ns-pl-cat-0"] -= moved
        self.backlog["ns-pl-out-0"] += moved
        done = min(self.backlog["ns-pl-out-0"], RATE * self.pods.get("pl-out", 0))
        self.backlog["ns-pl-out-0"] -= done

    def produce(self, n: int) -> None:
        if self.pods.get("pl-in", 0) > 0:
            self.backlog["ns-pl-cat-0"] += n

    def tick(self, scramble: str | None = None) -> None:
        self.reconcile_pipeline(scramble)
        self.reconcile_vertices()
        self.flow()
        self.now += timedelta(seconds=1)

    def converge(self) -> None:
        for _ in range(4 * GRACE + 20):
            self.tick()
            if not self.last_patches and self.last_requeue is None:
                break
        self.tick()
        assert not self.last_patches and self.last_requeue is None, "world did not converge"

    # --- views ------------------------------------------------------------------------------------------
    def phases(self) -> dict[str, str]:
        return {v.spec.get_name(): v.spec.get_lifecycle().get_desired_phase() for v in self.vertices.values()}

    def replicas(self) -> dict[str, int]:
        return {v.spec.get_name(): v.calculate_replicas() for v in self.vertices.values()}

    def marker(self) -> str | None:
        return (self.pl.metadata.annotations or {}).get(c.KEY_PAUSE_TIMESTAMP)


@dataclass
class Model:
    """What the user expects, kept without looking at the decision functions' outputs."""

    desired: str = "Running"
    spec_replicas: dict[str, int | None] = field(default_factory=lambda: {n: clamp(1, n) for n in SCALES})
    pending_resume: tuple[str, set[str]] | None = None

    def expected(self) -> dict[str, int]:
        return {n: clamp(r, n) for n, r in self.spec_replicas.items()}


def apply(world: World, model: Model, action: tuple[Any, ...], scramble: bool = False) -> None:
    kind = action[0]
    if kind == "pause":
        world.set_desired("Paused")
        model.desired, model.pending_resume = "Paused", None
    elif kind == "resume":
        world.set_desired("Running", action[1])
        model.desired = "Running"
        paused = {n for n, ph in world.phases().items() if ph == "Paused"}
        model.pending_resume = (action[1], paused)
    elif kind == "scale":
        name, n = action[1], action[2]
        world.scale(name, n)
        model.spec_replicas[name] = n
    elif kind == "update":
        world.update_spec()
    elif kind == "produce":
        world.produce(action[1])
    elif kind == "advance":
        world.now += timedelta(seconds=action[1])
    elif kind == "tick":
        commit_resume(world, model)
        world.tick(action[1] if scramble else None)


def commit_resume(world: World, model: Model) -> None:
    """A requested resume runs at the next reconcile iff a pause had started (the marker is there)."""
    if model.pending_resume is not None and world.marker() is not None:
        strategy, paused = model.pending_resume
        if strategy == "slow":
            for name in paused:
                model.spec_replicas[name] = None
    model.pending_resume = None


def check(world: World, model: Model) -> None:
    if model.desired == "Paused":
        assert set(world.phases().values()) == {"Paused"}
        assert all(n == 0 for n in world.pods.values())
        assert world.marker() is not None
    else:
        assert set(world.phases().values()) == {"Running"}
        assert world.replicas() == model.expected()
        assert world.marker() is None


actions = st.one_of(
    st.just(("pause",)),
    st.tuples(st.just("resume"), st.sampled_from(["fast", "slow"])),
    st.sampled_from(list(SCALES)).flatmap(
        lambda n: st.tuples(st.just("scale"), st.just(n), st.integers(SCALES[n][0], SCALES[n][1]))
    ),
    st.just(("update",)),
    st.tuples(st.just("produce"), st.integers(1, 50)),
    st.tuples(st.just("advance"), st.integers(1, 2 * GRACE)),
    st.tuples(st.just("tick"), st.sampled_from(PHASES)),
)


def started_world() -> tuple[World, Model]:
    world, model = World(make_pipeline()), Model()
    world.converge()
    return world, model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=50))
def test_after_convergence_every_vertex_is_where_the_user_expects(steps: list[tuple[Any, ...]]) -> None:
    world, model = started_world()
    for step in steps:
        apply(world, model, step)
    commit_resume(world, model)
    world.converge()
    check(world, model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25))
def test_scrambling_status_phase_never_changes_the_outcome(steps: list[tuple[Any, ...]]) -> None:
    plain, plain_model = started_world()
    scrambled, scrambled_model = started_world()
    for step in steps:
        apply(plain, plain_model, step)
        apply(scrambled, scrambled_model, step, scramble=True)
        assert scrambled.phases() == plain.phases()
        assert {n: v.spec.replicas for n, v in scrambled.vertices.items()} == {
            n: v.spec.replicas for n, v in plain.vertices.items()
        }
        assert scrambled.marker() == plain.marker()
        assert scrambled.pl.get_status().drained_on_pause == plain.pl.get_status().drained_on_pause


@settings(max_examples=60, deadline=None)
@given(
    desired=st.sampled_from(["Running", "Paused"]),
    marker=st.booleans(),
    replicas=st.lists(st.one_of(st.none(), st.integers(0, 60)), min_size=3, max_size=3),
    phases=st.lists(st.sampled_from(["Running", "Paused", "", None]), min_size=3, max_size=3),
)
def test_vertex_hash_ignores_replicas_and_lifecycle(
    desired: str, marker: bool, replicas: list[int | None], phases: list[str | None]
) -> None:
    baseline = {v.name: v.metadata.annotations[c.KEY_HASH] for v in build_vertices(make_pipeline())}  # type: ignore[index]
    pl = make_pipeline(desired)
    if marker:
        pl.metadata.annotations = {c.KEY_PAUSE_TIMESTAMP: "2026-03-01T08:00:00Z"}
    built = build_vertices(pl)
    assert {v.name: v.metadata.annotations[c.KEY_HASH] for v in built} == baseline  # type: ignore[index]
    for v, n, ph in zip(built, replicas, phases, strict=True):
        v.spec.replicas = n
        v.spec.lifecycle = VertexLifecycle(desired_phase=ph)
        assert vertex_hash(v.spec) == baseline[v.name]


# --- named scenarios ----------------------------------------------------------------------------------


def test_seed_scenario_pause_isb_outage_and_resume_restores_2_3_1() -> None:
    """Issue 6's seed: vertices at 2, 3, 1; pause and drain; ISB unhealthy (phase Failed) then healthy;
    resume → all three back at 2, 3, 1."""
    world = World(make_pipeline())
    world.converge()
    for name, n in (("in", 2), ("cat", 3), ("out", 2)):
        world.scale(name, n)
    world.converge()
    world.produce(40)
    assert world.replicas() == {"in": 2, "cat": 3, "out": 2}
    world.set_desired("Paused")
    world.converge()
    assert world.pl.get_status().phase == "Paused"
    assert world.pl.get_status().drained_on_pause is True
    world.isb_down = True
    world.tick()
    assert world.pl.get_status().phase == "Failed"
    world.isb_down = False
    world.set_desired("Running")
    world.converge()
    assert world.replicas() == {"in": 2, "cat": 3, "out": 2}
    assert world.pl.get_status().phase == "Running"


def test_resume_while_the_isb_is_down_restores_every_vertex() -> None:
    """#2331 in world form: the resume happens while the phase is Failed."""
    world = World(make_pipeline())
    world.converge()
    world.scale("cat", 4)
    world.set_desired("Paused")
    world.converge()
    world.isb_down = True
    world.tick()
    world.set_desired("Running")
    world.tick()
    assert set(world.phases().values()) == {"Running"}
    assert world.replicas() == {"in": 1, "cat": 4, "out": 2}
    assert world.marker() is None


def test_repeated_pause_update_resume_cycles_keep_every_vertex_right() -> None:
    """#2057: pause, update the spec while pausing and while paused, resume — many times."""
    world = World(make_pipeline())
    world.converge()
    world.scale("cat", 4)
    world.converge()
    for cycle in range(6):
        world.produce(200)
        world.set_desired("Paused")
        world.tick()
        world.update_spec()
        world.tick()
        assert world.phases()["cat"] == "Running", f"cycle {cycle}: update during Pausing paused cat early"
        world.converge()
        world.update_spec()
        world.converge()
        assert set(world.phases().values()) == {"Paused"}
        world.set_desired("Running", "fast")
        world.converge()
        assert world.replicas() == {"in": 1, "cat": 4, "out": 2}


def test_kubectl_scale_while_paused_is_what_a_fast_resume_returns_to() -> None:
    world = World(make_pipeline())
    world.converge()
    world.set_desired("Paused")
    world.converge()
    world.scale("out", 5)
    world.converge()
    assert world.pods["pl-out"] == 0
    world.set_desired("Running", "fast")
    world.converge()
    assert world.replicas()["out"] == 5


def test_slow_resume_after_scaling_returns_to_one_clamped() -> None:
    world = World(make_pipeline())
    world.converge()
    world.scale("cat", 4)
    world.scale("out", 5)
    world.set_desired("Paused")
    world.converge()
    world.set_desired("Running", "slow")
    world.converge()
    assert world.replicas() == {"in": 1, "cat": 1, "out": 2}


def test_created_paused_reaches_paused_drained_without_any_pod() -> None:
    world = World(make_pipeline("Paused"))
    world.tick()
    assert set(world.phases().values()) == {"Paused"}
    world.converge()
    assert world.pl.get_status().phase == "Paused"
    assert world.pl.get_status().drained_on_pause is True
    assert all(n == 0 for n in world.pods.values())
    world.set_desired("Running")
    world.converge()
    assert world.replicas() == {"in": 1, "cat": 1, "out": 2}


@pytest.mark.parametrize("seconds_before_resume", [0, 1, 2, 3])
def test_resume_during_the_drain_brings_the_pipeline_back(seconds_before_resume: int) -> None:
    world = World(make_pipeline())
    world.converge()
    world.scale("cat", 3)
    world.converge()
    world.produce(30)
    world.isb_down = True  # keep the pause from completing
    world.set_desired("Paused")
    for _ in range(seconds_before_resume + 1):
        world.tick()
    assert world.pl.get_status().drained_on_pause is False
    world.isb_down = False
    world.set_desired("Running")
    world.converge()
    assert world.replicas() == {"in": 1, "cat": 3, "out": 2}
    assert world.marker() is None


def test_status_phase_is_only_an_output() -> None:
    world = World(make_pipeline())
    world.converge()
    world.pl.status = PipelineStatus(phase="Failed")
    world.set_desired("Paused")
    world.converge()
    assert world.pl.get_status().phase == "Paused"
