"""The sink interface and the factory that builds one from an AbstractSink spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from numaflux.api import AbstractSink
from numaflux.dataplane.udf import SinkResult, SinkRole, UDFDatum, UDFPaths


class Sink(Protocol):
    """Writes a batch and reports a SinkResult per datum id; raises UDFError when a UD sink fails."""

    name: str

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def write(self, datums: Sequence[UDFDatum]) -> dict[str, SinkResult]: ...

    async def is_ready(self) -> bool: ...

    async def failed(self, err: BaseException) -> None: ...

    async def close(self) -> None: ...


def build_sink(spec: AbstractSink, role: SinkRole, udf_dir: UDFPaths, where: str) -> Sink:
    """The sink for `spec` (`where` names the field in errors, e.g. ``sink.fallback``)."""
    from numaflux.dataplane.sinks.blackhole import BlackholeSink
    from numaflux.dataplane.sinks.log import LogSink
    from numaflux.dataplane.sinks.udsink import UserSink

    kinds = spec.kinds()
    if kinds == ["log"]:
        return LogSink()
    if kinds == ["blackhole"]:
        return BlackholeSink()
    if kinds == ["udsink"]:
        return UserSink(udf_dir, role)
    if not kinds:
        raise ValueError(f"{where}: no sink kind set")
    raise ValueError(
        f"{where}: sink kind {', '.join(kinds)} is not supported by numaflux (log, blackhole, udsink)"
    )
