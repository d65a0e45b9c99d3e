"""Partition choice: SipHash as specified, keyed messages stick to one partition, ids spread out."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from numaflux.isb import Message, MessageID, choose_partition
from numaflux.isb.partition import siphash, split_by_partition

REFERENCE_KEY = (0x0706050403020100, 0x0F0E0D0C0B0A0908)  # bytes 00..0f, as in the SipHash paper


def test_siphash_2_4_matches_the_papers_test_vectors() -> None:
    k0, k1 = REFERENCE_KEY
    assert siphash(b"", k0, k1, 2, 4) == 0x726FDB47DD0E0E31
    assert siphash(bytes(range(15)), k0, k1, 2, 4) == 0xA129CA6149BE45E5


def test_default_is_1_3_rounds_with_zero_keys() -> None:
    assert siphash(b"abc") == siphash(b"abc", 0, 0, 1, 3)
    assert siphash(b"abc") != siphash(b"abc", 0, 0, 2, 4)


def msg(offset: str, keys: tuple[str, ...] = ()) -> Message:
    return Message(b"", MessageID("v", offset), 0, keys)


def test_one_partition_is_always_zero() -> None:
    assert choose_partition(msg("5-0", ("a",)), 1, keyed=True) == 0


def test_unkeyed_messages_spread_by_id_offset() -> None:
    counts = Counter(choose_partition(msg(f"{i}-0"), 3) for i in range(3000))
    assert set(counts) == {0, 1, 2}
    assert min(counts.values()) > 800


@given(st.lists(st.text(max_size=8), min_size=1, max_size=3), st.integers(2, 7))
def test_keyed_messages_ignore_the_id(keys: list[str], partitions: int) -> None:
    chosen = {choose_partition(msg(f"{i}-0", tuple(keys)), partitions, keyed=True) for i in range(20)}
    assert len(chosen) == 1
    assert chosen.pop() == siphash(":".join(keys).encode()) % partitions


def test_split_keeps_input_order_within_each_partition() -> None:
    batch = [msg(f"{i}-0", (f"k{i % 4}",)) for i in range(40)]
    groups = split_by_partition(batch, 3, keyed=True)
    assert sorted(i for g in groups for i in g) == list(range(40))
    assert all(g == sorted(g) for g in groups)
