"""gRPC clients for users' pynumaflow UDF containers (map, sink, source, source transformer).

Each client keeps one long-lived bidi stream per UDF, correlates responses by id and raises a typed
:class:`UDFError` when the UDF fails, so the caller can NAK its batch and :meth:`reconnect`.
"""

from numaflux.dataplane.udf.errors import (
    UDFConnectionError,
    UDFError,
    UDFExecutionError,
    UDFProtocolError,
)
from numaflux.dataplane.udf.mapper import MapClient
from numaflux.dataplane.udf.serverinfo import MapMode, ServerInfo, UDFPaths
from numaflux.dataplane.udf.sink import SinkClient, SinkRole
from numaflux.dataplane.udf.source import SourceClient
from numaflux.dataplane.udf.transformer import SourceTransformClient
from numaflux.dataplane.udf.types import (
    DROP,
    MapResult,
    SinkResult,
    SinkStatus,
    SourceMessage,
    SourceOffset,
    TransformResult,
    UDFDatum,
)

__all__ = [
    "DROP",
    "MapClient",
    "MapMode",
    "MapResult",
    "ServerInfo",
    "SinkClient",
    "SinkResult",
    "SinkRole",
    "SinkStatus",
    "SourceClient",
    "SourceMessage",
    "SourceOffset",
    "SourceTransformClient",
    "TransformResult",
    "UDFConnectionError",
    "UDFDatum",
    "UDFError",
    "UDFExecutionError",
    "UDFPaths",
    "UDFProtocolError",
]
