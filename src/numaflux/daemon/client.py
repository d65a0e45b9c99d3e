"""`DaemonClient`: the Pipeline controller's and the CLI's view of a pipeline daemon.

    async with DaemonClient("http://10.0.0.5:4327") as daemon:
        infos = await daemon.list_buffers("my-pipeline")
        drained = await daemon.is_drained("my-pipeline")

Errors: `DaemonNotFoundError` (404: unknown pipeline, buffer or vertex), `DaemonUnavailableError` (503 from
the daemon — e.g. the ISB is unreachable — or the daemon itself cannot be reached / timed out),
`DaemonProtocolError` (an answer that is not what the API promises). All carry the URL and the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from numaflux.daemon.buffers import buffer_info_from_json, is_drained
from numaflux.daemon.health import DataHealth
from numaflux.daemon.rater import PENDING_NOT_AVAILABLE
from numaflux.isb.info import BufferInfo

DEFAULT_TIMEOUT = 5.0


class DaemonError(RuntimeError):
    """A daemon request failed; `url` is the request."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status


class DaemonNotFoundError(DaemonError):
    """404: the pipeline, buffer or vertex is unknown to the daemon."""


class DaemonUnavailableError(DaemonError):
    """The daemon is unreachable, timed out, or answered 503 (its ISB service is unreachable)."""


class DaemonProtocolError(DaemonError):
    """The answer does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class VertexPartitionMetrics:
    """Rates (msg/s) and average pending per window (`default`, `1m`, `5m`, `15m`) for one partition;
    None where the daemon has no value yet."""

    pipeline: str
    vertex: str
    partition: str
    processing_rates: dict[str, float | None]
    pendings: dict[str, int | None]


def _rate(value: Any) -> float | None:
    v = float(value)
    return None if v < 0 else v


def _pending(value: Any) -> int | None:
    v = int(value)
    return None if v < 0 or v == PENDING_NOT_AVAILABLE else v


class DaemonClient:
    """Typed access to one daemon's REST API (aiohttp, per-request timeout)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DaemonClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, path: str) -> Any:
        url = self.base_url + path
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url) as resp:
                text = await resp.text()
                status = resp.status
                try:
                    body = await resp.json(content_type=None) if text else None
                except ValueError:
                    body = None
        except TimeoutError as err:
            raise DaemonUnavailableError(url, f"no answer within {self._timeout.total}s") from err
        except aiohttp.ClientError as err:
            raise DaemonUnavailableError(url, f"cannot reach the daemon: {err}") from err
        if status == 200:
            if body is None:
                raise DaemonProtocolError(url, f"expected JSON, got {text[:200]!r}", status)
            return body
        message = body.get("message") if isinstance(body, dict) else None
        message = str(message or text[:200] or f"HTTP {status}")
        if status == 404:
            raise DaemonNotFoundError(url, message, status)
        if status in (502, 503, 504):
            raise DaemonUnavailableError(url, message, status)
        raise DaemonError(url, f"HTTP {status}: {message}", status)

    @staticmethod
    def _field(url: str, body: Any, key: str) -> Any:
        if not isinstance(body, Mapping) or key not in body:
            raise DaemonProtocolError(url, f"answer has no {key!r} field")
        return body[key]

    def _prefix(self, pipeline: str) -> str:
        return f"/api/v1/pipelines/{quote(pipeline, safe='')}"

    async def list_buffers(self, pipeline: str) -> list[BufferInfo]:
        """BufferInfo of every buffer of the pipeline."""
        path = self._prefix(pipeline) + "/buffers"
        body = await self._get(path)
        items = self._field(self.base_url + path, body, "buffers")
        try:
            return [buffer_info_from_json(i) for i in items or []]
        except (ValueError, TypeError, AttributeError) as err:
            raise DaemonProtocolError(self.base_url + path, str(err)) from err

    async def get_buffer(self, pipeline: str, buffer: str) -> BufferInfo:
        """BufferInfo of one buffer."""
        path = f"{self._prefix(pipeline)}/buffers/{quote(buffer, safe='')}"
        body = await self._get(path)
        try:
            return buffer_info_from_json(self._field(self.base_url + path, body, "buffer"))
        except (ValueError, TypeError, AttributeError) as err:
            raise DaemonProtocolError(self.base_url + path, str(err)) from err

    async def is_drained(self, pipeline: str) -> bool:
        """True when every buffer has 0 pending and 0 ack-pending messages."""
        return is_drained(await self.list_buffers(pipeline))

    async def get_vertex_metrics(self, pipeline: str, vertex: str) -> list[VertexPartitionMetrics]:
        """Processing rates and pendings per partition of the vertex."""
        path = f"{self._prefix(pipeline)}/vertices/{quote(vertex, safe='')}/metrics"
        body = await self._get(path)
        items = self._field(self.base_url + path, body, "vertexMetrics")
        try:
            return [
                VertexPartitionMetrics(
                    pipeline=str(m["pipeline"]),
                    vertex=str(m["vertex"]),
                    partition=str(m.get("partition", "")),
                    processing_rates={k: _rate(v) for k, v in (m.get("processingRates") or {}).items()},
                    pendings={k: _pending(v) for k, v in (m.get("pendings") or {}).items()},
                )
                for m in items or []
            ]
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise DaemonProtocolError(self.base_url + path, f"bad vertexMetrics entry: {err!r}") from err

    async def get_status(self, pipeline: str) -> DataHealth:
        """The pipeline's data health (status, message, code D1-D4)."""
        path = self._prefix(pipeline) + "/status"
        body = await self._get(path)
        s = self._field(self.base_url + path, body, "status")
        try:
            return DataHealth(str(s["status"]), str(s["message"]), str(s["code"]))
        except (KeyError, TypeError) as err:
            raise DaemonProtocolError(self.base_url + path, f"bad status: {err!r}") from err

    async def get_watermarks(self, pipeline: str) -> list[dict[str, Any]]:
        """Edge watermarks as JSON objects (`edge`, `from`, `to`, `watermarks`, `isWatermarkEnabled`)."""
        path = self._prefix(pipeline) + "/watermarks"
        body = await self._get(path)
        return list(self._field(self.base_url + path, body, "pipelineWatermarks") or [])
