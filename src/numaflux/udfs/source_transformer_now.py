"""source-transformer-now: set every message's event time to the current time (UTC), keys kept."""

from datetime import UTC, datetime

from pynumaflow.sourcetransformer import Datum, Message, Messages, SourceTransformAsyncServer


async def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(Message(datum.value, event_time=datetime.now(UTC), keys=keys))


def main() -> None:
    SourceTransformAsyncServer(handler).start()


if __name__ == "__main__":
    main()
