"""map-flatmap-stream: a map-stream UDF that emits one message per comma-separated part of the payload,
each as soon as it is produced; an empty payload is dropped."""

from collections.abc import AsyncIterator

from pynumaflow.mapstreamer import Datum, MapStreamAsyncServer, Message


async def handler(keys: list[str], datum: Datum) -> AsyncIterator[Message]:
    text = datum.value.decode("utf-8", errors="replace")
    if not text:
        yield Message.to_drop()
        return
    for part in text.split(","):
        yield Message(part.encode("utf-8"), keys=keys)


def main() -> None:
    MapStreamAsyncServer(handler).start()


if __name__ == "__main__":
    main()
