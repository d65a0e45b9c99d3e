"""map-forward-message: forward the input to the output, value and keys unchanged."""

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages


async def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(Message(value=datum.value, keys=keys))


def main() -> None:
    MapAsyncServer(handler).start()


if __name__ == "__main__":
    main()
