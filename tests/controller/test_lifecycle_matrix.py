"""The lifecycle transition-by-fault matrix on the local cluster, with message accounting.

One test per fault; each drives one small pipeline (HTTP source → cat → log sink) through every transition
in a chain, the end state of one transition being the start of the next:

    created with desiredPhase Paused → spec update while Paused → `kubectl scale` while Paused →
    Paused→Running fast → Running→Paused (with messages in flight) → Paused→Running slow →
    Pausing→Running (resume during the drain) → Running→deleted (with messages in flight) →
    [created Paused again] → Paused→deleted

The fault hits each transition right after it started. After each one the pipeline must converge to the
desired state with every vertex at its expected replicas, and every message accepted so far must be at the
sink (lost == 0; duplicates are printed). A failure names the transition and the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from numaflux.api import constants as c
from numaflux.controller.kube import JSON, PIPELINE, VERTEX, KubeClient, is_conflict

from .accounting import (
    ACK_WAIT,
    Accounting,
    create_isb_for_faults,
    isb_pod,
    kill_pod,
    make_isb_unhealthy_then_healthy,
    replace_controller,
    restart_controller,
    restart_nats_server,
    running_pod,
)
from .cluster import Cluster, Process
from .helpers import get_or_none, until
from .test_pipeline_e2e import (
    all_vertex_pods,
    every_vertex_ready,
    phase_is,
    set_desired,
    vertices_of,
)

FAULTS = ["none", "controller-killed", "controller-upgraded", "nats-restarted", "isb-unhealthy", "pod-killed"]
GRACE = 30
"""Pause and deletion grace (NumaFlow's default): longer than any fault here lasts plus the ISB's ackWait
(what a crashed reader held is redelivered only then) plus a container restart on a loaded machine, so a
drain is never cut short by a fault (a drained pipeline does not wait for it)."""
BATCH = 30
"""Messages per send: enough to have some in flight when a pause starts, few enough to stay quick."""


def matrix_pipeline(namespace: str) -> JSON:
    """min 1 / max 2 for the source and cat, 1 / 1 for the sink: replicas after each transition are known."""
    assert GRACE > ACK_WAIT + 5
    return {
        "metadata": {"name": "pl", "namespace": namespace},
        "spec": {
            "lifecycle": {
                "desiredPhase": "Paused",
                "pauseGracePeriodSeconds": GRACE,
                "deletionGracePeriodSeconds": GRACE,
            },
            "vertices": [
                {"name": "in", "scale": {"min": 1, "max": 2}, "source": {"http": {"ports": {"http": 8090}}}},
                {
                    "name": "cat",
                    "scale": {"min": 1, "max": 2},
                    "udf": {"container": {"image": "quay.io/numaio/numaflow-go/map-cat:stable"}},
                },
                {"name": "out", "scale": {"min": 1, "max": 1}, "sink": {"log": {}}},
            ],
            "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}],
        },
    }


@dataclass
class Run:
    """The cluster side of one matrix test: the controller process (replaced by some faults) and the
    accounting."""

    cluster: Cluster
    kube: KubeClient
    namespace: str
    acct: Accounting
    fault: str
    controller: Process | None = None
    versions: int = 0
    timings: list[tuple[str, float, str]] = field(default_factory=list)

    async def inject(self, transition: str, *, drain: bool, paused: bool) -> str:
        """The fault, mid-transition; what was done (for the report)."""
        kube, ns = self.kube, self.namespace
        if self.fault == "none":
            return "-"
        if self.fault in ("controller-killed", "controller-upgraded"):
            assert self.controller is not None
            extra: tuple[str, ...] = ()
            if self.fault == "controller-upgraded":
                # The new version renders its pods with another image tag: vertex, daemon and ISB pods
                # roll over to it.
                self.versions += 1
                extra = ("--image", f"quay.io/numaproj/numaflow:v-next.{self.versions}")
            old, self.controller = self.controller, None
            self.controller = await replace_controller(
                self.cluster, old, *extra, kill=self.fault == "controller-killed"
            )
            return "killed, replaced" if not extra else f"upgraded to {extra[1]}"
        if self.fault == "nats-restarted":
            took = await restart_nats_server(kube, ns)
            return f"nats-server back in {took:.1f}s"
        if self.fault == "isb-unhealthy":
            seen: list[str] = []

            async def failed_or_gone() -> None:
                async def check() -> bool:
                    pl = await get_or_none(kube, PIPELINE, ns, "pl")
                    if pl is None:
                        seen.append("gone")
                        return True
                    if pl["metadata"].get("deletionTimestamp"):
                        # Deleting stays the phase: the outage holds up the drain and the clean-up.
                        await asyncio.sleep(5)
                        seen.append("Deleting, held 5 s")
                        return True
                    if (pl.get("status") or {}).get("phase") == "Failed":
                        seen.append("Failed")
                        return True
                    return False

                await until(check, f"{transition}: pipeline Failed while its ISB service is unhealthy", 30)

            outage = await make_isb_unhealthy_then_healthy(kube, ns, asyncio.ensure_future(failed_or_gone()))
            return f"ISB not Ready {outage:.1f}s, pipeline {seen[-1]}"
        assert self.fault == "pod-killed"
        if drain:
            killed = await kill_pod(self.cluster, kube, ns, "pl-cat-")
            return f"killed {killed} mid-drain"
        if paused:
            # Nothing drains and no vertex pod runs while Paused: the closest is the pipeline's daemon pod.

            async def kill_daemon() -> str | None:
                killed = await kill_pod(self.cluster, kube, ns, "pl-daemon-", "main")
                if killed is not None:
                    return f"killed daemon {killed}"
                if await get_or_none(kube, PIPELINE, ns, "pl") is None:
                    return "the daemon went with the pipeline before it could be killed"
                return None

            return f"no vertex pod while Paused; {await until(kill_daemon, 'a daemon pod to kill', 60)}"
        # A resume drains nothing: a vertex pod killed while the vertices come back instead.
        killed = await until(lambda: kill_pod(self.cluster, kube, ns, "pl-cat-"), "a cat pod to kill", 60)
        return f"nothing drains on a resume; killed {killed} while starting"

    async def step(
        self,
        transition: str,
        trigger: Callable[[], Awaitable[None]],
        converged: Callable[[], Awaitable[object]],
        *,
        drain: bool = False,
        paused: bool = False,
        started: Callable[[], Awaitable[bool]] | None = None,
        fault: bool = True,
        within: float = 120,
    ) -> None:
        """Trigger, wait for a sign the transition started, inject the fault, wait for convergence."""
        t0 = time.monotonic()
        await trigger()
        if started is not None:
            with contextlib.suppress(AssertionError):  # already past it: the fault still lands after it
                await until(started, f"{transition} started", 10)
        done = await self.inject(transition, drain=drain, paused=paused) if fault else "-"
        try:
            await until(converged, f"[{self.fault}] {transition}: converged", within)
        except AssertionError as err:
            raise AssertionError(f"[{self.fault}] {transition} (fault: {done}): {err}") from None
        took = time.monotonic() - t0
        self.timings.append((transition, took, done))
        print(f"\n[{self.fault}] {transition}: {took:.1f}s (fault: {done})")

    async def nothing_lost(self, transition: str) -> None:
        await self.acct.assert_nothing_lost(f"[{self.fault}] {transition}", within=60)


async def _paused(kube: KubeClient, ns: str, *, drained: bool = True) -> bool:
    """Paused (drainedOnPause as given), every vertex desiredPhase Paused, no vertex pod."""
    pl = await phase_is(kube, ns, "Paused")
    if pl is None or pl["status"].get("drainedOnPause") is not drained:
        return False
    vertices = await vertices_of(kube, ns)
    return (
        len(vertices) == 3
        and all(v["spec"]["lifecycle"].get("desiredPhase") == "Paused" for v in vertices)
        and not await all_vertex_pods(kube, ns)
    )


async def _running(kube: KubeClient, ns: str, replicas: dict[str, int]) -> bool:
    """Running without the marker, every vertex Running with exactly its replicas Ready."""
    pl = await phase_is(kube, ns, "Running")
    return (
        pl is not None
        and c.KEY_PAUSE_TIMESTAMP not in (pl["metadata"].get("annotations") or {})
        and await every_vertex_ready(kube, ns, replicas)
    )


async def _gone(kube: KubeClient, ns: str) -> bool:
    return await get_or_none(kube, PIPELINE, ns, "pl") is None and not await all_vertex_pods(kube, ns)


async def _marker_set(kube: KubeClient, ns: str) -> bool:
    pl = await kube.get(PIPELINE, ns, "pl")
    return c.KEY_PAUSE_TIMESTAMP in (pl["metadata"].get("annotations") or {})


@pytest.mark.timeout(420)
@pytest.mark.parametrize("fault", FAULTS)
async def test_every_lifecycle_transition_converges_and_loses_nothing_under_fault(
    cluster: Cluster, kube: KubeClient, namespace: str, fault: str
) -> None:
    ns = namespace
    one = {"pl-in": 1, "pl-cat": 1, "pl-out": 1}
    scaled = {"pl-in": 1, "pl-cat": 2, "pl-out": 1}
    run: Run | None = None
    try:
        async with Accounting(cluster, kube, ns) as acct:
            run = Run(cluster, kube, ns, acct, fault, controller=await restart_controller(cluster))
            await create_isb_for_faults(kube, ns)
            isb_before = await isb_pod(kube, ns)

            async def create() -> None:
                await kube.create(PIPELINE, matrix_pipeline(ns))

            async def vertices_created() -> bool:
                return len(await vertices_of(kube, ns)) == 3

            await run.step(
                "created Paused", create, lambda: _paused(kube, ns), paused=True, started=vertices_created
            )

            async def update_spec() -> None:
                async def replaced() -> bool:
                    pl = await kube.get(PIPELINE, ns, "pl")
                    cat = next(v for v in pl["spec"]["vertices"] if v["name"] == "cat")
                    cat["udf"]["container"]["env"] = [{"name": "REVISION", "value": "2"}]
                    try:
                        await kube.replace(PIPELINE, pl)
                    except Exception as err:  # a status write in between: read again
                        if not is_conflict(err):
                            raise
                        return False
                    return True

                await until(replaced, "pipeline spec replaced", 30)

            async def updated_and_paused() -> bool:
                cat = await kube.get(VERTEX, ns, "pl-cat")
                env = cat["spec"]["udf"]["container"].get("env") or []
                return {"name": "REVISION", "value": "2"} in env and await _paused(kube, ns)

            await run.step("spec update while Paused", update_spec, updated_and_paused, paused=True)

            async def scale_cat() -> None:
                await kube.patch(VERTEX, ns, "pl-cat", {"spec": {"replicas": 2}})

            async def scale_kept_while_paused() -> bool:
                cat = await kube.get(VERTEX, ns, "pl-cat")
                st = cat.get("status") or {}
                return (
                    cat["spec"].get("replicas") == 2
                    and st.get("observedGeneration") == cat["metadata"]["generation"]
                    and st.get("desiredReplicas") == 0
                    and await _paused(kube, ns)
                )

            await run.step("kubectl scale while Paused", scale_cat, scale_kept_while_paused, paused=True)

            async def vertices_resuming() -> bool:
                return any(
                    v["spec"]["lifecycle"].get("desiredPhase") == "Running"
                    for v in await vertices_of(kube, ns)
                )

            await run.step(
                "Paused→Running fast",
                lambda: set_desired(kube, ns, "Running"),
                lambda: _running(kube, ns, scaled),
                started=vertices_resuming,
            )
            await acct.send_all(BATCH)
            await run.nothing_lost("Paused→Running fast")

            base = len(acct.accepted)
            await acct.source_ready()
            sending = acct.start_sending(BATCH * 2)

            async def pause_with_messages_in_flight() -> None:
                await _wait_accepted(acct, base + BATCH // 2)
                await set_desired(kube, ns, "Paused")

            await run.step(
                "Running→Paused",
                pause_with_messages_in_flight,
                lambda: _paused(kube, ns),
                drain=True,
                started=lambda: _marker_set(kube, ns),
            )
            await sending
            await run.nothing_lost("Running→Paused")

            async def resume_slow() -> None:
                await kube.patch(
                    PIPELINE, ns, "pl", {"metadata": {"annotations": {c.KEY_RESUME_STRATEGY: "slow"}}}
                )
                await set_desired(kube, ns, "Running")

            async def slow_resumed() -> bool:
                cat = await kube.get(VERTEX, ns, "pl-cat")
                return cat["spec"].get("replicas") == 1 and await _running(kube, ns, one)

            await run.step("Paused→Running slow", resume_slow, slow_resumed, started=vertices_resuming)
            await kube.patch(PIPELINE, ns, "pl", {"metadata": {"annotations": {c.KEY_RESUME_STRATEGY: None}}})
            await acct.send_all(BATCH)
            await run.nothing_lost("Paused→Running slow")

            base = len(acct.accepted)
            await acct.source_ready()
            sending = acct.start_sending(BATCH * 2)
            phase_at_resume: list[str] = []

            async def pause_then_resume_during_the_drain() -> None:
                await _wait_accepted(acct, base + BATCH // 2)
                await set_desired(kube, ns, "Paused")
                await until(lambda: _marker_set(kube, ns), "pause started", 30)
                pl = await kube.get(PIPELINE, ns, "pl")
                phase_at_resume.append((pl.get("status") or {}).get("phase") or "?")
                await set_desired(kube, ns, "Running")

            await run.step(
                "Pausing→Running",
                pause_then_resume_during_the_drain,
                lambda: _running(kube, ns, one),
                drain=True,
            )
            print(f"[{fault}] Pausing→Running: phase when the resume was set: {phase_at_resume}")
            await sending
            await acct.send_all(BATCH)
            await run.nothing_lost("Pausing→Running")

            base = len(acct.accepted)
            await acct.source_ready()
            sending = acct.start_sending(BATCH * 2)

            async def delete_with_messages_in_flight() -> None:
                await _wait_accepted(acct, base + BATCH // 2)
                await kube.delete(PIPELINE, ns, "pl")

            await run.step(
                "Running→deleted", delete_with_messages_in_flight, lambda: _gone(kube, ns), drain=True
            )
            await sending
            await run.nothing_lost("Running→deleted")

            await run.step("created Paused (again)", create, lambda: _paused(kube, ns), fault=False)
            if fault == "pod-killed":
                # the deletion's fault is the daemon pod's kill: let it start first
                await until(
                    lambda: running_pod(cluster, kube, ns, "pl-daemon-", "main"), "the daemon pod running", 60
                )
            await run.step(
                "Paused→deleted",
                lambda: kube.delete(PIPELINE, ns, "pl"),
                lambda: _gone(kube, ns),
                paused=True,
            )
            if fault == "controller-upgraded":
                # Upgrades roll vertex and daemon pods, never the ISB service's (not the controller's).
                assert await isb_pod(kube, ns) == isb_before
            tally = await acct.assert_nothing_lost(f"[{fault}] total")
            total = sum(t for _, t, _ in run.timings)
            print(f"\n[{fault}] {len(run.timings)} transitions in {total:.1f}s; {tally.line()}")
    finally:
        if run is not None and run.controller is not None and run.controller.running():
            run.controller.terminate()


async def _wait_accepted(acct: Accounting, n: int, within: float = 30) -> None:
    try:
        await until(lambda: _accepted_at_least(acct, n), f"{n} messages accepted", within)
    except AssertionError as err:
        raise AssertionError(f"{err}; last refusals {acct.refusals[-5:]}; {await acct.describe()}") from None


async def _accepted_at_least(acct: Accounting, n: int) -> bool:
    return len(acct.accepted) >= n
