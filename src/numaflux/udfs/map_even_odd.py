"""map-even-odd: parse the payload as an integer; even → key "even", tag "even-tag"; odd → key "odd",
tag "odd-tag"; not an integer → dropped (as numaflow-go's even_odd example)."""

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages


def classify(value: bytes) -> Message:
    try:
        number = int(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Message.to_drop()
    if number % 2 == 0:
        return Message(value, keys=["even"], tags=["even-tag"])
    return Message(value, keys=["odd"], tags=["odd-tag"])


async def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(classify(datum.value))


def main() -> None:
    MapAsyncServer(handler).start()


if __name__ == "__main__":
    main()
