"""map-filter-id: pass through only JSON messages whose ``id`` is below 100 (payload unchanged, keys not
kept, like the upstream filter example); everything else, including non-JSON, is dropped."""

import json

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages

ID_LIMIT = 100


def keep(value: bytes) -> bool:
    try:
        doc = json.loads(value)
        return isinstance(doc, dict) and int(doc["id"]) < ID_LIMIT
    except (ValueError, TypeError, KeyError):
        return False


async def handler(keys: list[str], datum: Datum) -> Messages:
    if keep(datum.value):
        return Messages(Message(datum.value))
    return Messages(Message.to_drop())


def main() -> None:
    MapAsyncServer(handler).start()


if __name__ == "__main__":
    main()
