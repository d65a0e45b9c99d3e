"""The ISB message encoding round-trips every message and rejects garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.isb import Kind, Message, MessageDecodeError, MessageID, decode_message, encode_message

text = st.text(max_size=40)
messages = st.builds(
    Message,
    payload=st.binary(max_size=300),
    id=st.builds(MessageID, text, text, st.integers(-(2**31), 2**31 - 1)),
    event_time_ns=st.integers(-(2**63), 2**63 - 1),
    keys=st.lists(text, max_size=5).map(tuple),
    headers=st.dictionaries(text, st.text(max_size=100), max_size=5),
    is_late=st.booleans(),
    kind=st.sampled_from(Kind),
)


@given(messages)
def test_every_message_survives_encode_then_decode(msg: Message) -> None:
    assert decode_message(encode_message(msg)) == msg


@given(messages, st.integers(min_value=1, max_value=40))
def test_truncated_bytes_are_rejected(msg: Message, cut: int) -> None:
    data = encode_message(msg)
    with pytest.raises(MessageDecodeError):
        decode_message(data[: max(0, len(data) - cut)])


def test_dedup_id_is_vertex_offset_index() -> None:
    assert str(MessageID("map", "1234-0", 2)) == "map-1234-0-2"


def test_unknown_version_is_named_in_the_error() -> None:
    data = bytearray(encode_message(Message(b"x", MessageID("v", "1-0"), 0)))
    data[0] = 9
    with pytest.raises(MessageDecodeError, match="version 9"):
        decode_message(bytes(data))


def test_an_oversized_key_is_refused_with_its_field_name() -> None:
    with pytest.raises(ValueError, match="key length"):
        encode_message(Message(b"", MessageID("v", "1"), 0, keys=("k" * 70_000,)))


def test_event_time_in_milliseconds_rounds_down() -> None:
    assert Message(b"", MessageID("v", "1"), 1_700_000_000_123_999_999).event_time_ms == 1_700_000_000_123
