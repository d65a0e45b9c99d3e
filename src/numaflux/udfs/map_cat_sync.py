"""map-cat on the synchronous (thread-pool) MapServer."""

from pynumaflow.mapper import Datum, MapServer, Message, Messages


def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(Message(value=datum.value, keys=keys))


def main() -> None:
    MapServer(handler).start()


if __name__ == "__main__":
    main()
