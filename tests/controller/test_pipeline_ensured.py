"""A settled pipeline's reconcile skips the JetStream ensure; what makes it ensure again (pure rules, then
against a real nats-server: a skipped ensure makes no round trip, so a stream deleted behind its back
stays deleted until the ISB service changes, the connection is new, or the re-verify interval passes)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from numaflux.api import InterStepBufferService
from numaflux.controller.pipeline import isb as isbio
from numaflux.controller.pipeline.build import IsbPlan
from numaflux.controller.pipeline.ensured import EnsureMemo, EnsureTarget, ensure_target
from numaflux.isb import admin
from numaflux.isb.server import NatsServer

from .helpers import until

KEY = "ns/pl"
PLAN = IsbPlan(
    buffers=["ns-pl-cat-0", "ns-pl-out-0"], buckets=["ns-pl-in-cat"], delete_buffers=[], delete_buckets=[]
)


def isb(
    uid: str = "isb-1", url: str = "nats://127.0.0.1:4222", stream_config: str | None = None
) -> InterStepBufferService:
    jetstream: dict[str, str] = {"url": url}
    if stream_config is not None:
        jetstream["streamConfig"] = stream_config
    return InterStepBufferService.model_validate(
        {
            "metadata": {"name": "default", "namespace": "ns", "uid": uid},
            "spec": {"jetstream": {}},
            "status": {"config": {"jetstream": jetstream}},
        }
    )


def target(**changes: object) -> EnsureTarget:
    base = ensure_target(isb(), "nats://127.0.0.1:4222", PLAN, (1, 0))
    return replace(base, **changes)  # type: ignore[arg-type]


# --- the memo, pure ----------------------------------------------------------------------------------


def test_an_ensure_forgotten_while_it_ran_is_not_remembered() -> None:
    memo = EnsureMemo()
    token = memo.begin(KEY)
    memo.forget(KEY)  # e.g. a reconcile saw the ISB service go away meanwhile
    memo.remember(KEY, target(), now=0.0, token=token)
    assert memo.needs_ensure(KEY, target(), PLAN, now=1.0)
    # a newer ensure supersedes an older one still running: only the newer is remembered
    old = memo.begin(KEY)
    new = memo.begin(KEY)
    memo.remember(KEY, target(), now=0.0, token=old)
    assert memo.needs_ensure(KEY, target(), PLAN, now=1.0)
    memo.remember(KEY, target(), now=0.0, token=new)
    assert not memo.needs_ensure(KEY, target(), PLAN, now=1.0)


def test_an_unknown_pipeline_is_ensured_then_skipped_until_the_interval_passes() -> None:
    memo = EnsureMemo(reverify_seconds=300)
    assert memo.needs_ensure(KEY, target(), PLAN, now=0.0)
    assert memo.reverify_in(KEY, 0.0) is None
    memo.remember(KEY, target(), now=10.0)
    assert not memo.needs_ensure(KEY, target(), PLAN, now=10.0)
    assert not memo.needs_ensure(KEY, target(), PLAN, now=309.9)
    assert memo.needs_ensure(KEY, target(), PLAN, now=310.0)
    assert memo.reverify_in(KEY, 10.0) == 300.0
    assert memo.reverify_in(KEY, 250.0) == 60.0
    assert memo.reverify_in(KEY, 400.0) == 1.0  # overdue: soon, never 0 (0 means no requeue)
    assert memo.needs_ensure("ns/other", target(), PLAN, now=10.0)  # per pipeline


@pytest.mark.parametrize(
    "changed",
    [
        target(isb_uid="isb-2"),
        target(url="nats://127.0.0.1:4223"),
        target(stream_config="stream:\n  maxMsgs: 10\n"),
        target(connection=(2, 0)),
        target(connection=(1, 1)),
        target(buffers=frozenset({"ns-pl-cat-0"})),
        target(buckets=frozenset()),
        target(side_inputs_store="ns-pl-si"),
    ],
)
def test_any_change_of_what_was_ensured_ensures_again(changed: EnsureTarget) -> None:
    memo = EnsureMemo()
    memo.remember(KEY, target(), now=0.0)
    assert changed != target()
    assert memo.needs_ensure(KEY, changed, PLAN, now=1.0)


def test_something_to_delete_or_a_forgotten_pipeline_always_talks_to_jetstream() -> None:
    memo = EnsureMemo()
    memo.remember(KEY, target(), now=0.0)
    assert memo.needs_ensure(KEY, target(), replace(PLAN, delete_buffers=["ns-pl-old-0"]), now=1.0)
    assert memo.needs_ensure(KEY, target(), replace(PLAN, delete_buckets=["ns-pl-old-out"]), now=1.0)
    memo.forget(KEY)
    assert memo.needs_ensure(KEY, target(), PLAN, now=1.0)
    assert memo.reverify_in(KEY, 1.0) is None


def test_the_target_reads_uid_url_stream_config_and_names() -> None:
    t = ensure_target(
        isb(stream_config="stream: {}\n"), "nats://x:1", replace(PLAN, side_inputs_store="s"), (3, 2)
    )
    assert t == EnsureTarget(
        isb_uid="isb-1",
        url="nats://x:1",
        stream_config="stream: {}\n",
        connection=(3, 2),
        buffers=frozenset(PLAN.buffers),
        buckets=frozenset(PLAN.buckets),
        side_inputs_store="s",
    )


# --- against a real nats-server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(Path(tmp_path_factory.mktemp("ensure-nats")) / "store")
    server.start()
    yield server
    server.stop()


async def absent(js: object) -> list[str]:
    return await admin.missing(js, buffers=PLAN.buffers, buckets=PLAN.buckets)  # type: ignore[arg-type]


async def test_a_skipped_ensure_makes_no_round_trip_and_a_change_or_the_interval_repairs(
    nats_server: NatsServer,
) -> None:
    clients = isbio.IsbClients()
    try:
        url = nats_server.url
        js = await clients.jetstream(url)
        memo = EnsureMemo(reverify_seconds=300)
        service = isb(url=url)

        def current(svc: InterStepBufferService = service) -> EnsureTarget:
            return ensure_target(svc, url, PLAN, clients.generation(url))

        made = await isbio.ensure_plan(js, service, PLAN, memo, KEY, current(), now=0.0)
        assert made is not None and {a.name for a in made if a.outcome == "created"} >= set(PLAN.buffers)
        assert await absent(js) == []

        # deleted behind the controller's back: a fresh ensure is skipped, so it stays deleted
        await admin.delete_buffers(js, ["ns-pl-cat-0"])
        assert await isbio.ensure_plan(js, service, PLAN, memo, KEY, current(), now=10.0) is None
        assert await absent(js) == ["stream ns-pl-cat-0"]

        # the periodic re-verify repairs it
        again = await isbio.ensure_plan(js, service, PLAN, memo, KEY, current(), now=300.0)
        assert again is not None and ("stream", "ns-pl-cat-0", "created") in [
            (a.kind, a.name, a.outcome) for a in again
        ]
        assert await absent(js) == []

        # a replaced ISB service (new uid) is ensured at once
        await admin.delete_buffers(js, ["ns-pl-out-0"])
        replaced = isb(uid="isb-2", url=url)
        assert (
            await isbio.ensure_plan(js, replaced, PLAN, memo, KEY, current(replaced), now=301.0) is not None
        )
        assert await absent(js) == []

        # a restarted server: the client reconnects, the generation moves, the next reconcile ensures
        before = clients.generation(url)
        nats_server.restart()
        await until(
            lambda: _generation_moved(clients, url, before), "client reconnected after the restart", 30
        )
        await admin.delete_buffers(js, ["ns-pl-cat-0"])
        assert (
            await isbio.ensure_plan(js, replaced, PLAN, memo, KEY, current(replaced), now=302.0) is not None
        )
        assert await absent(js) == []
    finally:
        js = await clients.jetstream(nats_server.url)
        await admin.delete_buffers(js, PLAN.buffers)
        await admin.delete_buckets(js, PLAN.buckets)
        await clients.close()


async def _generation_moved(clients: isbio.IsbClients, url: str, before: tuple[int, int]) -> bool:
    return clients.generation(url) != before
