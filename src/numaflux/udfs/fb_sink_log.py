"""fb-sink-log: as the primary sink it logs "primary sink under maintenance" and answers FALLBACK for
every message (numaflow-go's fallback example); started as the fallback sink
(NUMAFLOW_UD_CONTAINER_TYPE=fb-udsink) it logs the message and answers success, so the same image can
serve both roles as the upstream example pipeline uses it."""

import os
from collections.abc import AsyncIterable

from pynumaflow.sinker import Datum, Response, Responses, SinkAsyncServer

FALLBACK_CONTAINER_TYPE = "fb-udsink"


def is_fallback_role() -> bool:
    return os.getenv("NUMAFLOW_UD_CONTAINER_TYPE", "") == FALLBACK_CONTAINER_TYPE


async def handler(datums: AsyncIterable[Datum]) -> Responses:
    fallback_role = is_fallback_role()
    responses = Responses()
    async for datum in datums:
        text = datum.value.decode("utf-8", errors="replace")
        if fallback_role:
            print(f"Fallback sink received - {text}", flush=True)
            responses.append(Response.as_success(datum.id))
        else:
            print(f"Primary sink under maintenance, writing to fallback sink - {text}", flush=True)
            responses.append(Response.as_fallback(datum.id))
    return responses


def main() -> None:
    SinkAsyncServer(handler).start()


if __name__ == "__main__":
    main()
