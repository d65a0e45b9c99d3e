"""The server-info file a pynumaflow server writes after binding, and the socket paths it implies.

pynumaflow writes ``json.dumps(info)`` followed by the literal terminator ``U+005C__END__`` (no newline)
once its gRPC server is up.  The reader waits for a non-empty file, re-reads until the terminator is
there, and, for map UDFs, picks the socket from ``metadata.MAP_MODE``.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from numaflux.dataplane.udf.errors import UDFConnectionError, UDFProtocolError

END_MARKER = "U+005C__END__"
DEFAULT_BASE_DIR = Path("/var/run/numaflow")


class MapMode(enum.Enum):
    """How a map UDF speaks on its stream; chosen by ``metadata.MAP_MODE``."""

    UNARY = "unary-map"
    BATCH = "batch-map"
    STREAM = "stream-map"

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> MapMode:
        """Missing or unknown MAP_MODE means unary, as NumaFlow's core does."""
        value = metadata.get("MAP_MODE", "")
        for mode in cls:
            if mode.value == value:
                return mode
        return cls.UNARY


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Parsed server-info file; every field defaults like NumaFlow's serde defaults."""

    protocol: str = "uds"
    language: str = ""
    minimum_numaflow_version: str = ""
    version: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def map_mode(self) -> MapMode:
        return MapMode.from_metadata(self.metadata)


def parse_server_info(text: str, *, source: str = "server-info") -> ServerInfo | None:
    """Parse file content; None while the terminator is still missing (file being written)."""
    stripped = text.rstrip()
    if not stripped.endswith(END_MARKER):
        return None
    body = stripped[: -len(END_MARKER)]
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as err:
        raise UDFProtocolError(source, f"server-info is not JSON: {err}") from err
    if not isinstance(raw, dict):
        raise UDFProtocolError(source, f"server-info is a {type(raw).__name__}, expected an object")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise UDFProtocolError(source, "server-info field 'metadata' is not an object")
    protocol = raw.get("protocol")
    return ServerInfo(
        protocol=protocol if protocol in ("uds", "tcp") else "uds",
        language=str(raw.get("language") or ""),
        minimum_numaflow_version=str(raw.get("minimum_numaflow_version") or ""),
        version=str(raw.get("version") or ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


async def wait_for_server_info(
    path: Path,
    *,
    max_wait: float | None = None,
    poll_interval: float = 0.1,
    read_retries: int = 10,
    read_retry_interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
) -> ServerInfo:
    """Wait until ``path`` exists and is non-empty, then read it until it carries the terminator.

    Cancellable (it only sleeps between polls).  ``max_wait`` None waits forever; on expiry raises
    :class:`UDFConnectionError` naming the file.
    """
    deadline = None if max_wait is None else clock() + max_wait
    while not _has_content(path):
        if deadline is not None and clock() >= deadline:
            raise UDFConnectionError(str(path), f"server-info file not ready after {max_wait}s")
        await asyncio.sleep(poll_interval)
    for attempt in range(read_retries):
        info = parse_server_info(_read(path), source=str(path))
        if info is not None:
            return info
        if attempt + 1 < read_retries:
            await asyncio.sleep(read_retry_interval)
    raise UDFProtocolError(str(path), f"no {END_MARKER} terminator after {read_retries} reads")


# A server-info file is a few hundred bytes on a memory volume: plain synchronous I/O is fine.
def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class UDFPaths:
    """Socket and server-info locations of a pod's UDF containers (NumaFlow's fixed names)."""

    base_dir: Path = DEFAULT_BASE_DIR

    def map_info(self) -> Path:
        return self.base_dir / "mapper-server-info"

    def map_socket(self, mode: MapMode) -> Path:
        name = {MapMode.UNARY: "map.sock", MapMode.BATCH: "batchmap.sock", MapMode.STREAM: "mapstream.sock"}
        return self.base_dir / name[mode]

    def sink_info(self, prefix: str = "") -> Path:
        return self.base_dir / f"{prefix}sinker-server-info"

    def sink_socket(self, prefix: str = "") -> Path:
        return self.base_dir / f"{prefix}sink.sock"

    def source_info(self) -> Path:
        return self.base_dir / "sourcer-server-info"

    def source_socket(self) -> Path:
        return self.base_dir / "source.sock"

    def transformer_info(self) -> Path:
        return self.base_dir / "sourcetransformer-server-info"

    def transformer_socket(self) -> Path:
        return self.base_dir / "sourcetransform.sock"
