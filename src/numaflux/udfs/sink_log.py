"""sink-log: a user-defined sink that prints every payload and reports success."""

from collections.abc import AsyncIterable

from pynumaflow.sinker import Datum, Response, Responses, SinkAsyncServer


async def handler(datums: AsyncIterable[Datum]) -> Responses:
    responses = Responses()
    async for datum in datums:
        print(datum.value.decode("utf-8", errors="replace"), flush=True)
        responses.append(Response.as_success(datum.id))
    return responses


def main() -> None:
    SinkAsyncServer(handler).start()


if __name__ == "__main__":
    main()
