"""Leader election on a real Lease: acquire, hold, lose to another holder, release."""

from __future__ import annotations

import asyncio

import pytest

from numaflux.controller.kube import LEASE, KubeClient
from numaflux.controller.leader import LeaderConfig, LeaderElector

pytestmark = pytest.mark.timeout(60)


def elector(kube: KubeClient, namespace: str, identity: str) -> LeaderElector:
    config = LeaderConfig(
        name="lock",
        namespace=namespace,
        lease_duration=2,
        renew_deadline=1.5,
        retry_period=0.2,
        identity=identity,
    )
    return LeaderElector(kube, config)


async def test_a_second_candidate_waits_while_the_lease_is_renewed(kube: KubeClient, namespace: str) -> None:
    first, second = elector(kube, namespace, "first"), elector(kube, namespace, "second")
    await asyncio.wait_for(first.acquire(), 10)
    holding = asyncio.create_task(first.hold())
    try:
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(3)  # more than the 2 s lease: renewals keep it
        assert not waiting.done()
        holding.cancel()  # the leader stops renewing (as if it hung or died)
        await asyncio.wait_for(waiting, 10)
        lease = await kube.get(LEASE, namespace, "lock")
        assert lease["spec"]["holderIdentity"] == "second"
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        holding.cancel()


async def test_the_leader_notices_another_holder_and_steps_down(kube: KubeClient, namespace: str) -> None:
    leader = elector(kube, namespace, "leader")
    await asyncio.wait_for(leader.acquire(), 10)
    holding = asyncio.create_task(leader.hold())
    await asyncio.sleep(0.5)
    lease = await kube.get(LEASE, namespace, "lock")
    lease["spec"] = {**lease["spec"], "holderIdentity": "intruder", "leaseDurationSeconds": 60}
    await kube.replace(LEASE, lease)
    await asyncio.wait_for(holding, 10)
    assert not leader.is_leader


async def test_release_lets_a_successor_take_over_at_once(kube: KubeClient, namespace: str) -> None:
    first, second = elector(kube, namespace, "first"), elector(kube, namespace, "second")
    await asyncio.wait_for(first.acquire(), 10)
    await first.release()
    assert await second.try_acquire_or_renew()
