"""A user-defined sink (primary, fallback or onSuccess container) through SinkClient."""

from __future__ import annotations

from collections.abc import Sequence

from numaflux.dataplane.supervisor import UDFSupervisor
from numaflux.dataplane.udf import SinkClient, SinkResult, SinkRole, UDFDatum, UDFPaths


class UserSink:
    def __init__(self, paths: UDFPaths, role: SinkRole) -> None:
        self.client = SinkClient(paths, role=role)
        self.name = self.client.name
        self.supervisor = UDFSupervisor(self.client)

    @property
    def connected(self) -> bool:
        return self.supervisor.connected

    async def start(self) -> None:
        await self.supervisor.connect()

    async def write(self, datums: Sequence[UDFDatum]) -> dict[str, SinkResult]:
        await self.supervisor.wait_connected()
        return await self.client.sink_batch(datums)

    async def is_ready(self) -> bool:
        return await self.client.is_ready()

    async def failed(self, err: BaseException) -> None:
        self.supervisor.failed(err)

    async def close(self) -> None:
        await self.supervisor.close()
