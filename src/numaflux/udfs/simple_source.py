"""simple-source: a user-defined source emitting an increasing counter ("0", "1", ...) as payloads, in
the manner of numaflow-rs's simple-source example: a read returns nothing while earlier offsets are
still unacked, nacked offsets are re-sent first, pending is the number of unacked offsets, and the
source has the single partition 0."""

import time
from datetime import UTC, datetime

from pynumaflow.shared.asynciter import NonBlockingIterator
from pynumaflow.sourcer import (
    AckRequest,
    Message,
    NackRequest,
    Offset,
    PartitionsResponse,
    PendingResponse,
    ReadRequest,
    SourceAsyncServer,
    Sourcer,
)


class SimpleSource(Sourcer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.counter = 0
        self.yet_to_ack: set[bytes] = set()
        self.nacked: list[bytes] = []

    def _message(self, offset: bytes) -> Message:
        payload = str(self.counter).encode()
        self.counter += 1
        return Message(payload=payload, offset=Offset(offset, 0), event_time=datetime.now(UTC))

    async def read_handler(self, datum: ReadRequest, output: NonBlockingIterator) -> None:
        if self.yet_to_ack:
            return
        if self.nacked:
            resend, self.nacked = self.nacked, []
            for offset in resend:
                await output.put(self._message(offset))
            self.yet_to_ack.update(resend)
            return
        stamp = time.time_ns()
        for i in range(datum.num_records):
            offset = f"{stamp}-{i}".encode()
            await output.put(self._message(offset))
            self.yet_to_ack.add(offset)

    async def ack_handler(self, ack_request: AckRequest) -> None:
        for offset in ack_request.offsets:
            self.yet_to_ack.discard(offset.offset)

    async def nack_handler(self, nack_request: NackRequest) -> None:
        for offset in nack_request.offsets:
            if offset.offset in self.yet_to_ack:
                self.yet_to_ack.discard(offset.offset)
                self.nacked.append(offset.offset)
                self.counter -= 1

    async def pending_handler(self) -> PendingResponse:
        return PendingResponse(count=len(self.yet_to_ack))

    async def active_partitions_handler(self) -> PartitionsResponse:
        return PartitionsResponse(partitions=[0])


def main() -> None:
    SourceAsyncServer(SimpleSource()).start()


if __name__ == "__main__":
    main()
