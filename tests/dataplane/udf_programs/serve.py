"""Run a pynumaflow server for tests with its socket and server-info file inside a given directory.

usage: python serve.py PROGRAM DIR [--fallback-role]

The bundled example UDFs are imported and served exactly as their own ``main()`` does, only with
``sock_path`` / ``server_info_file`` pointing into DIR (pynumaflow's constructor arguments).  A few
test-only handlers (status_sink, crash_map, slow_cat) live here.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterable
from pathlib import Path

from pynumaflow.batchmapper import BatchMapAsyncServer
from pynumaflow.mapper import Datum, MapAsyncServer, MapServer, Message, Messages
from pynumaflow.mapstreamer import MapStreamAsyncServer
from pynumaflow.sinker import Datum as SinkDatum
from pynumaflow.sinker import Message as SinkMessage
from pynumaflow.sinker import Response, Responses, SinkAsyncServer
from pynumaflow.sourcer import SourceAsyncServer
from pynumaflow.sourcetransformer import SourceTransformAsyncServer

from numaflux.udfs import (
    fb_sink_log,
    map_cat,
    map_cat_batch,
    map_cat_sync,
    map_even_odd,
    map_filter_id,
    map_flatmap_stream,
    map_forward_message,
    map_retry,
    simple_source,
    sink_log,
    source_transformer_now,
)


async def status_sink(datums: AsyncIterable[SinkDatum]) -> Responses:
    """Answers by payload: ok / fail / fb / ons (replacement message) / ons-orig (no message)."""
    out = Responses()
    async for d in datums:
        v = d.value
        if v == b"fail":
            out.append(Response.as_failure(d.id, "cannot write"))
        elif v == b"fb":
            out.append(Response.as_fallback(d.id))
        elif v == b"ons":
            out.append(Response.as_on_success(d.id, SinkMessage(b"replaced", keys=["r"])))
        elif v == b"ons-orig":
            out.append(Response.as_on_success(d.id, None))
        else:
            out.append(Response.as_success(d.id))
    return out


async def crash_map(keys: list[str], datum: Datum) -> Messages:
    if datum.value == b"boom":
        raise ValueError("user code failed on boom")
    return Messages(Message(datum.value, keys=keys))


async def slow_cat(keys: list[str], datum: Datum) -> Messages:
    time.sleep(0.002)  # noqa: ASYNC251 -- blocks the loop on purpose: answers trickle out one by one
    return Messages(Message(datum.value, keys=keys))


def main() -> None:
    program, directory = sys.argv[1], Path(sys.argv[2])
    fallback_role = "--fallback-role" in sys.argv[3:]

    def at(sock: str, info: str) -> dict[str, str]:
        return {"sock_path": str(directory / sock), "server_info_file": str(directory / info)}

    mapper = at("map.sock", "mapper-server-info")
    sink = at("sink.sock", "sinker-server-info")
    if fallback_role:
        sink = at("fb-sink.sock", "fb-sinker-server-info")
    unary = {
        "map_cat": map_cat.handler,
        "map_even_odd": map_even_odd.handler,
        "map_filter_id": map_filter_id.handler,
        "map_forward_message": map_forward_message.handler,
        "map_retry": map_retry.handler,
        "crash_map": crash_map,
        "slow_cat": slow_cat,
    }
    if program in unary:
        server = MapAsyncServer(unary[program], **mapper)
    elif program == "map_cat_sync":
        server = MapServer(map_cat_sync.handler, **mapper)
    elif program == "map_cat_batch":
        server = BatchMapAsyncServer(map_cat_batch.handler, **at("batchmap.sock", "mapper-server-info"))
    elif program == "map_flatmap_stream":
        stream = at("mapstream.sock", "mapper-server-info")
        server = MapStreamAsyncServer(map_flatmap_stream.handler, **stream)
    elif program in ("sink_log", "fb_sink_log", "status_sink"):
        handler = {
            "sink_log": sink_log.handler,
            "fb_sink_log": fb_sink_log.handler,
            "status_sink": status_sink,
        }
        server = SinkAsyncServer(handler[program], **sink)
        if fallback_role:
            # Set after construction: pynumaflow would otherwise force /var/run/numaflow/fb-sink.sock.
            os.environ["NUMAFLOW_UD_CONTAINER_TYPE"] = "fb-udsink"
    elif program == "simple_source":
        server = SourceAsyncServer(simple_source.SimpleSource(), **at("source.sock", "sourcer-server-info"))
    elif program == "source_transformer_now":
        server = SourceTransformAsyncServer(
            source_transformer_now.handler, **at("sourcetransform.sock", "sourcetransformer-server-info")
        )
    else:
        raise SystemExit(f"unknown program {program!r}")
    server.start()


if __name__ == "__main__":
    main()
