"""Inter-step buffers on NATS JetStream: streams, consumers, KV buckets, buffer info.

Submodules: `server` (local nats-server), `connection`, `config` (settings and names), `admin` (idempotent
create/delete/validate), `message` (ISB message + encoding), `partition`, `writer`, `reader`, `info`,
`watermark` (OT buckets).
"""

from numaflux.isb.admin import (
    Action,
    ISBNotReadyError,
    create_buckets,
    create_buffers,
    create_side_inputs_store,
    delete_buckets,
    delete_buffers,
    delete_side_inputs_store,
    missing,
    validate,
)
from numaflux.isb.config import BucketConfig, BufferConfig, OnFull, Retention
from numaflux.isb.connection import connect
from numaflux.isb.info import BufferInfo, get_buffer_info
from numaflux.isb.message import Kind, Message, MessageDecodeError, MessageID, decode_message, encode_message
from numaflux.isb.partition import choose_partition
from numaflux.isb.reader import BufferReader, ReadMessage
from numaflux.isb.watermark import WMB, WatermarkFetcher, WatermarkPublisher
from numaflux.isb.writer import BufferWriter, EdgeWriter, Publisher, WriteResult, WriteStatus

__all__ = [
    "WMB",
    "Action",
    "BucketConfig",
    "BufferConfig",
    "BufferInfo",
    "BufferReader",
    "BufferWriter",
    "EdgeWriter",
    "ISBNotReadyError",
    "Kind",
    "Message",
    "MessageDecodeError",
    "MessageID",
    "OnFull",
    "Publisher",
    "ReadMessage",
    "Retention",
    "WatermarkFetcher",
    "WatermarkPublisher",
    "WriteResult",
    "WriteStatus",
    "choose_partition",
    "connect",
    "create_buckets",
    "create_buffers",
    "create_side_inputs_store",
    "decode_message",
    "delete_buckets",
    "delete_buffers",
    "delete_side_inputs_store",
    "encode_message",
    "get_buffer_info",
    "missing",
    "validate",
]
