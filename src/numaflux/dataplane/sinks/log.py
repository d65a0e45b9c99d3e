"""The log sink: one line per message on stdout, in NumaFlow's format, always successful."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from numaflux.dataplane.udf import SinkResult, SinkStatus, UDFDatum


def log_line(d: UDFDatum) -> str:
    """``Payload - {utf8 lossy} Keys - {k1,k2} EventTime - {ms} Headers - {k: v, ...} ID - {id}``."""
    headers = ", ".join(f"{k}: {v}" for k, v in d.headers.items())
    payload = d.value.decode("utf-8", errors="replace")
    return (
        f"Payload - {payload} Keys - {','.join(d.keys)} EventTime - {d.event_time_ms} "
        f"Headers - {{{headers}}} ID - {d.id}"
    )


class LogSink:
    name = "log"

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    @property
    def connected(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def write(self, datums: Sequence[UDFDatum]) -> dict[str, SinkResult]:
        out = self._out or sys.stdout
        out.write("".join(log_line(d) + "\n" for d in datums))
        out.flush()
        return {d.id: SinkResult(d.id, SinkStatus.SUCCESS) for d in datums}

    async def is_ready(self) -> bool:
        return True

    async def failed(self, err: BaseException) -> None:
        return None

    async def close(self) -> None:
        return None
