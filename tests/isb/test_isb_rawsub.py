"""Raw inbox subscriptions against a real nats-server: bytes in arrival order, status headers parsed,
other subscriptions untouched, a failing handler does not take the connection down."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from numaflux.isb import connect
from numaflux.isb.rawsub import subscribe_raw, unsubscribe_raw
from numaflux.isb.server import NatsServer

from .conftest import SESSION_LOOP

pytestmark = [SESSION_LOOP, pytest.mark.timeout(30)]

Seen = list[tuple[bytes, bytes, bytes, dict[str, str] | None]]


async def until_count(seen: list[object], n: int) -> None:
    async with asyncio.timeout(10):
        while len(seen) < n:  # noqa: ASYNC110 -- handlers are plain callbacks, nothing to await
            await asyncio.sleep(0.01)


async def test_raw_handler_gets_bytes_in_order_and_plain_subscribers_still_get_msgs(nc: NATS) -> None:
    inbox = nc.new_inbox()
    seen: Seen = []
    plain: list[Msg] = []

    async def on_plain(msg: Msg) -> None:
        plain.append(msg)

    sub = await subscribe_raw(nc, inbox + ".*", lambda *a: seen.append(a))
    other = await nc.subscribe(inbox + ".*", cb=on_plain)
    for i in range(50):
        await nc.publish(f"{inbox}.{i}", f"m{i}".encode(), reply="r.x" if i % 2 else "", headers={"A": "b"})
    await until_count(seen, 50)  # type: ignore[arg-type]
    await until_count(plain, 50)  # type: ignore[arg-type]
    assert [s[0] for s in seen] == [f"{inbox}.{i}".encode() for i in range(50)]
    assert [s[2] for s in seen] == [f"m{i}".encode() for i in range(50)]
    assert [s[1] for s in seen[:2]] == [b"", b"r.x"]
    # headers are only parsed for messages without a reply (where the server puts statuses)
    assert seen[0][3] == {"A": "b"} and seen[1][3] is None
    assert plain[1].headers == {"A": "b"} and plain[1].reply == "r.x"

    await unsubscribe_raw(nc, sub)
    await nc.publish(f"{inbox}.late", b"late")
    await until_count(plain, 51)  # type: ignore[arg-type]
    assert len(seen) == 50
    await other.unsubscribe()


async def test_a_status_reply_arrives_with_its_status_header(nc: NATS) -> None:
    inbox = nc.new_inbox()
    seen: Seen = []
    sub = await subscribe_raw(nc, inbox + ".*", lambda *a: seen.append(a))
    # a request to a subject nobody listens on: the server answers 503 (no responders) on the reply inbox
    await nc.publish(f"nobody.{inbox}", b"x", reply=f"{inbox}.1", headers={"Nats-Msg-Id": "1"})
    await until_count(seen, 1)  # type: ignore[arg-type]
    subject, reply, data, status = seen[0]
    assert (subject, reply, data) == (f"{inbox}.1".encode(), b"", b"")
    assert status is not None and status.get("Status") == "503"
    await unsubscribe_raw(nc, sub)


async def test_a_failing_handler_leaves_the_connection_working(nc: NATS) -> None:
    inbox = nc.new_inbox()
    seen: list[bytes] = []

    def handler(subject: bytes, reply: bytes, data: bytes, status: dict[str, str] | None) -> None:
        if data == b"bad":
            raise ValueError("handler bug")
        seen.append(data)

    sub = await subscribe_raw(nc, inbox + ".*", handler)
    await nc.publish(f"{inbox}.1", b"bad")
    await nc.publish(f"{inbox}.2", b"good")
    await until_count(seen, 1)  # type: ignore[arg-type]
    assert seen == [b"good"] and nc.is_connected
    await unsubscribe_raw(nc, sub)


async def test_a_closed_connection_with_raw_subscriptions_is_freed(nats_server: NatsServer) -> None:
    conn = await connect(nats_server.url, name="rawsub-gc")
    await subscribe_raw(conn, conn.new_inbox() + ".*", lambda *a: None)
    await conn.close()
    ref = weakref.ref(conn)
    del conn
    gc.collect()
    assert ref() is None
