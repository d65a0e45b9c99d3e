"""Partition choice for multi-partition buffers, as NumaFlow's Rust core does it.

`partition = SipHash-1-3(k0=0, k1=0)(shuffle key bytes) % partitions` (Rust's `DefaultHasher`). The shuffle
key is the keys joined with ":" for keyed edges (reduce, ordered processing), so one key always lands in
one partition and keeps its order; otherwise the message id's offset, which spreads messages evenly.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from numaflux.isb.message import Message

_MASK = 0xFFFFFFFFFFFFFFFF


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash(data: bytes, k0: int = 0, k1: int = 0, c_rounds: int = 1, d_rounds: int = 3) -> int:
    """SipHash-c-d of `data` with the 128-bit key (k0, k1); defaults are SipHash-1-3 with zero keys."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    n = len(data)
    end = n - (n % 8)
    for i in range(0, end, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        for _ in range(c_rounds):
            v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= m
    last = ((n & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= last
    for _ in range(c_rounds):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= last
    v2 ^= 0xFF
    for _ in range(d_rounds):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=65536)
def partition_for_key(shuffle_key: str, partitions: int) -> int:
    """The partition a shuffle key maps to (cached: keyed traffic repeats its keys)."""
    if partitions <= 1:
        return 0
    return siphash(shuffle_key.encode()) % partitions


def shuffle_key(msg: Message, keyed: bool) -> str:
    """Keys joined with ":" for keyed edges, else the id's offset."""
    return ":".join(msg.keys) if keyed else msg.id.offset


def choose_partition(msg: Message, partitions: int, *, keyed: bool = False) -> int:
    """Target partition of `msg` on an edge with `partitions` partitions."""
    if partitions <= 1:
        return 0
    key = shuffle_key(msg, keyed)
    if keyed:
        return partition_for_key(key, partitions)
    return siphash(key.encode()) % partitions


def split_by_partition(
    messages: Sequence[Message], partitions: int, *, keyed: bool = False
) -> list[list[int]]:
    """Indexes of `messages` per partition, each list in input order (so per-key order is kept)."""
    groups: list[list[int]] = [[] for _ in range(max(partitions, 1))]
    for i, msg in enumerate(messages):
        groups[choose_partition(msg, partitions, keyed=keyed)].append(i)
    return groups
