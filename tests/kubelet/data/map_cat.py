"""An unmodified pynumaflow map UDF: binds the default /var/run/numaflow/map.sock."""

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages


async def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(Message(datum.value, keys=keys))


if __name__ == "__main__":
    MapAsyncServer(handler).start()
