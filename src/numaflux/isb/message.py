"""The ISB message (NumaFlow's `isb.Message` shape) and its compact binary encoding.

pynumaflow ships no `isb` protos, and a protobuf round trip costs ~9 µs per message in Python against
~3 µs for this fixed-layout encoding, which matters at a 14 µs/message hop budget. Layout, little-endian:

    offset  size  field
    0       1     format version (1)
    1       1     kind (0 DATA, 1 WMB)
    2       1     flags (bit 0: is_late)
    3       8     event time, int64 nanoseconds since the epoch
    11      4     id.index, int32
    15      2     byte length of id.vertex_name
    17      2     byte length of id.offset
    19      2     number of keys
    21      2     number of headers
    23      4     byte length of the payload
    27      ...   id.vertex_name, id.offset (UTF-8); each key as u16 length + UTF-8; each header as
                  u16 key length, u32 value length, key, value (UTF-8); then the payload bytes.

This is not wire-compatible with NumaFlow's Rust pods (which write protobuf); numaflux vertices only talk
to numaflux vertices over the ISB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

FORMAT_VERSION = 1
_FIXED = struct.Struct("<BBBqiHHHHI")
_KEY_LEN = struct.Struct("<H")
_HEADER_LENS = struct.Struct("<HI")
_LATE = 0x01
_U16_MAX = 0xFFFF
_FIXED_SIZE = _FIXED.size
_unpack_fixed = _FIXED.unpack_from


class MessageDecodeError(ValueError):
    """The bytes are not an ISB message in this encoding."""


class Kind(IntEnum):
    """DATA carries a payload; WMB is a watermark control message (idle partitions)."""

    DATA = 0
    WMB = 1


_KINDS = (Kind.DATA, Kind.WMB)  # indexing a tuple is 10x cheaper than calling Kind(n)


@dataclass(slots=True, unsafe_hash=True)
class MessageID:
    """Unique message identity; its string form is the JetStream dedup id (`Nats-Msg-Id`).

    Treat as immutable (hashable by value); not `frozen` because frozen init is 2x slower on the hot path.
    """

    vertex_name: str
    offset: str
    index: int = 0

    def __str__(self) -> str:
        return f"{self.vertex_name}-{self.offset}-{self.index}"


@dataclass(slots=True)
class Message:
    """One ISB message: header (event time, lateness, id, keys, headers, kind) and payload."""

    payload: bytes
    id: MessageID
    event_time_ns: int
    keys: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    is_late: bool = False
    kind: Kind = Kind.DATA

    @property
    def event_time_ms(self) -> int:
        """Event time in epoch milliseconds (the unit watermarks use)."""
        return self.event_time_ns // 1_000_000


def _check_u16(what: str, n: int) -> None:
    if n > _U16_MAX:
        raise ValueError(f"{what}: {n} exceeds the encoding limit of {_U16_MAX}")


def encode_message(msg: Message) -> bytes:
    """Encode `msg` in the layout described in the module docstring."""
    mid = msg.id
    vertex = mid.vertex_name.encode()
    offset = mid.offset.encode()
    keys = msg.keys
    headers = msg.headers
    payload = msg.payload
    if len(vertex) > _U16_MAX or len(offset) > _U16_MAX or len(keys) > _U16_MAX or len(headers) > _U16_MAX:
        _check_u16("id.vertex_name length", len(vertex))
        _check_u16("id.offset length", len(offset))
        _check_u16("number of keys", len(keys))
        _check_u16("number of headers", len(headers))
    fixed = _FIXED.pack(
        FORMAT_VERSION,
        msg.kind,
        _LATE if msg.is_late else 0,
        msg.event_time_ns,
        mid.index,
        len(vertex),
        len(offset),
        len(keys),
        len(headers),
        len(payload),
    )
    if not keys and not headers:
        return b"".join((fixed, vertex, offset, payload))
    parts = [fixed, vertex, offset]
    for key in keys:
        kb = key.encode()
        _check_u16("key length", len(kb))
        parts.append(_KEY_LEN.pack(len(kb)))
        parts.append(kb)
    for name, value in headers.items():
        nb = name.encode()
        vb = value.encode()
        _check_u16("header name length", len(nb))
        parts.append(_HEADER_LENS.pack(len(nb), len(vb)))
        parts.append(nb)
        parts.append(vb)
    parts.append(payload)
    return b"".join(parts)


def decode_message(data: bytes) -> Message:
    """Decode bytes produced by `encode_message`; raises MessageDecodeError naming the problem."""
    try:
        version, kind, flags, event_ns, index, lv, lo, nkeys, nheaders, lp = _unpack_fixed(data)
    except struct.error as err:
        raise MessageDecodeError(f"isb message: {len(data)} bytes is shorter than the fixed header") from err
    if version != FORMAT_VERSION:
        raise MessageDecodeError(f"isb message: unknown format version {version}")
    if kind > 1:
        raise MessageDecodeError(f"isb message: unknown kind {kind}")
    vertex_end = _FIXED_SIZE + lv
    pos = vertex_end + lo
    try:
        vertex = data[_FIXED_SIZE:vertex_end].decode()
        offset = data[vertex_end:pos].decode()
        keys: tuple[str, ...] = ()
        headers: dict[str, str] = {}
        if nkeys or nheaders:
            keys, headers, pos = _decode_keys_headers(data, pos, nkeys, nheaders)
    except (struct.error, UnicodeDecodeError) as err:
        raise MessageDecodeError(f"isb message: corrupt header: {err}") from err
    if pos + lp != len(data):
        raise MessageDecodeError(f"isb message: header says {pos + lp} bytes, got {len(data)}")
    return Message(
        data[pos:],
        MessageID(vertex, offset, index),
        event_ns,
        keys,
        headers,
        flags & _LATE == _LATE,
        _KINDS[kind],
    )


def _decode_keys_headers(
    data: bytes, pos: int, nkeys: int, nheaders: int
) -> tuple[tuple[str, ...], dict[str, str], int]:
    key_list = []
    for _ in range(nkeys):
        (n,) = _KEY_LEN.unpack_from(data, pos)
        pos += 2
        key_list.append(data[pos : pos + n].decode())
        pos += n
    headers: dict[str, str] = {}
    for _ in range(nheaders):
        nn, nv = _HEADER_LENS.unpack_from(data, pos)
        pos += 6
        name = data[pos : pos + nn].decode()
        pos += nn
        headers[name] = data[pos : pos + nv].decode()
        pos += nv
    return tuple(key_list), headers, pos
