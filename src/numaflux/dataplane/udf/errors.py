"""Typed failures of a UDF call; every one means "NAK the in-flight batch and reconnect"."""

from __future__ import annotations

import grpc

# pynumaflow aborts a stream with INTERNAL and this prefix in the details when a handler raises.
UDF_EXECUTION_ERROR_MARKER = "UDF_EXECUTION_ERROR"


class UDFError(Exception):
    """Base class: the UDF call failed and its in-flight requests got no (complete) answer."""

    def __init__(self, udf: str, message: str) -> None:
        super().__init__(f"{udf}: {message}")
        self.udf = udf


class UDFConnectionError(UDFError):
    """The UDF is unreachable, not ready, or its stream broke (process died, socket gone)."""


class UDFExecutionError(UDFError):
    """The user's handler raised; pynumaflow aborted the stream with INTERNAL and exits."""


class UDFProtocolError(UDFError):
    """The UDF answered out of protocol: bad handshake, partial batch, unknown or duplicate id."""


def from_rpc_error(udf: str, err: grpc.aio.AioRpcError) -> UDFError:
    """Classify a gRPC failure of a UDF stream or call."""
    details = err.details() or ""
    if err.code() == grpc.StatusCode.INTERNAL and UDF_EXECUTION_ERROR_MARKER in details:
        return UDFExecutionError(udf, details)
    return UDFConnectionError(udf, f"{err.code().name}: {details}")
