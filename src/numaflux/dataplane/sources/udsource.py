"""A user-defined source (``source.udsource``) through SourceClient.

Message offsets are ``{base64(offset)}-{partition_id}`` (NumaFlow's UD source rule); acks send the
original offsets back once the messages are written downstream.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

from numaflux.dataplane.supervisor import UDFSupervisor
from numaflux.dataplane.udf import SourceClient, SourceOffset, UDFError, UDFPaths
from numaflux.isb import Message, MessageID

log = logging.getLogger(__name__)


class UserSource:
    name = "udsource"

    def __init__(self, paths: UDFPaths, *, vertex: str) -> None:
        self.client = SourceClient(paths)
        self.supervisor = UDFSupervisor(self.client)
        self.vertex = vertex
        self._offsets: dict[str, SourceOffset] = {}
        self._stopped = False

    @property
    def connected(self) -> bool:
        return self.supervisor.connected

    async def start(self) -> None:
        await self.supervisor.connect()

    def stop(self) -> None:
        self._stopped = True

    async def read(self, max_messages: int, wait: float) -> list[Message]:
        if self._stopped:
            return []
        await self.supervisor.wait_connected()
        try:
            got = await self.client.read(max_messages, max(1, int(wait * 1000)))
        except UDFError as err:
            self.supervisor.failed(err)
            return []
        out = []
        for sm in got:
            offset = f"{base64.b64encode(sm.offset.offset).decode()}-{sm.offset.partition_id}"
            self._offsets[offset] = sm.offset
            out.append(
                Message(
                    sm.payload,
                    MessageID(self.vertex, offset, 0),
                    sm.event_time_ms * 1_000_000,
                    tuple(sm.keys),
                    sm.headers,
                )
            )
        return out

    def _take(self, messages: Sequence[Message]) -> list[SourceOffset]:
        seen: dict[str, SourceOffset] = {}
        for m in messages:
            off = self._offsets.pop(m.id.offset, None)
            if off is not None:
                seen[m.id.offset] = off
        return list(seen.values())

    async def ack(self, messages: Sequence[Message]) -> None:
        offsets = self._take(messages)
        while offsets:
            try:
                await self.client.ack(offsets)
                return
            except UDFError as err:
                # The messages are stored downstream; an unacked UD source redelivers them and the
                # dedup window absorbs the rewrite. Keep trying so the source can move on.
                self.supervisor.failed(err)
                await self.supervisor.wait_connected()

    async def nack(self, messages: Sequence[Message]) -> None:
        offsets = self._take(messages)
        try:
            await self.client.nack(offsets)
        except UDFError as err:
            log.warning("udsource nack failed: %s", err)
            self.supervisor.failed(err)

    async def pending(self) -> int | None:
        try:
            return await self.client.pending()
        except UDFError:
            return None

    async def close(self) -> None:
        await self.supervisor.close()
