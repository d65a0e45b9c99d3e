"""Protocol frames built for the ISB match the NATS wire format."""

from __future__ import annotations

import nats.errors
import pytest

from numaflux.isb.frames import check_subject, hpub_with_msg_id, pub


def test_hpub_frame_carries_the_dedup_header_and_exact_sizes() -> None:
    frame = hpub_with_msg_id(b"buf-0", b"_INBOX.x.7", b"v-1-0-0", b"data")
    header = b"NATS/1.0\r\nNats-Msg-Id: v-1-0-0\r\n\r\n"
    assert frame == b"HPUB buf-0 _INBOX.x.7 %d %d\r\n%sdata\r\n" % (len(header), len(header) + 4, header)


def test_pub_frame_with_and_without_reply() -> None:
    assert pub(b"$JS.ACK.a.b.1.2.3.4.5", b"+ACK") == b"PUB $JS.ACK.a.b.1.2.3.4.5 4\r\n+ACK\r\n"
    assert pub(b"s", b"+ACK", b"r.1") == b"PUB s r.1 4\r\n+ACK\r\n"


@pytest.mark.parametrize("subject", ["", "a b", "a\r\nPUB x 1"])
def test_subjects_that_could_break_a_frame_are_refused(subject: str) -> None:
    with pytest.raises(nats.errors.BadSubjectError):
        check_subject(subject)
