"""map-cat as a batch map: one handler call per batch, one response per datum id."""

from collections.abc import AsyncIterable

from pynumaflow.batchmapper import BatchMapAsyncServer, BatchResponse, BatchResponses, Datum, Message


async def handler(datums: AsyncIterable[Datum]) -> BatchResponses:
    responses = BatchResponses()
    async for datum in datums:
        responses.append(BatchResponse.with_msgs(datum.id, [Message(datum.value, keys=datum.keys)]))
    return responses


def main() -> None:
    BatchMapAsyncServer(handler).start()


if __name__ == "__main__":
    main()
