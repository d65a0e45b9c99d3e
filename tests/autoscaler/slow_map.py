"""A map UDF for the autoscaler tests and benchmark: `SECONDS_PER_MESSAGE` per message, one message at a
time per replica (`SERIAL=false`: all at once), after `STARTUP_SECONDS` before it starts serving."""

from __future__ import annotations

import asyncio
import os
import time

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages

SECONDS = float(os.environ.get("SECONDS_PER_MESSAGE", "0.1"))
SERIAL = os.environ.get("SERIAL", "true") == "true"
_lock = asyncio.Lock()


async def handler(keys: list[str], datum: Datum) -> Messages:
    if SERIAL:
        async with _lock:
            await asyncio.sleep(SECONDS)
    else:
        await asyncio.sleep(SECONDS)
    return Messages(Message(value=datum.value, keys=keys))


if __name__ == "__main__":
    time.sleep(float(os.environ.get("STARTUP_SECONDS", "0")))
    MapAsyncServer(handler).start()
