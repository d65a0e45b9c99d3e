"""The blackhole sink: discards everything, always successful."""

from __future__ import annotations

from collections.abc import Sequence

from numaflux.dataplane.udf import SinkResult, SinkStatus, UDFDatum


class BlackholeSink:
    name = "blackhole"

    @property
    def connected(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def write(self, datums: Sequence[UDFDatum]) -> dict[str, SinkResult]:
        return {d.id: SinkResult(d.id, SinkStatus.SUCCESS) for d in datums}

    async def is_ready(self) -> bool:
        return True

    async def failed(self, err: BaseException) -> None:
        return None

    async def close(self) -> None:
        return None
