"""Process entry of the vertex: logging, config from the pod env, event loop, exit code."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys

EXIT_CONFIG = 2
ENV_LOOP = "NUMAFLUX_EVENT_LOOP"  # "uvloop" (default) or "asyncio"


GC_THRESHOLDS = (20_000, 50, 100)


def _tune_gc() -> None:
    """Every message allocates a few dozen short-lived objects (ISB and gRPC messages, futures), none in
    cycles that matter; with the default gen-0 threshold (700) the collector runs every few messages and
    its older generations keep rescanning the ~70k objects the imports created. Those are moved out of
    its reach (`gc.freeze`) and collections made rarer."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(log_level: str | None = None) -> int:
    """Run the vertex process; 2 on a configuration error (the message names the variable)."""
    from numaflux.dataplane.config import ConfigError, load_config

    logging.basicConfig(
        level=(log_level or os.environ.get("NUMAFLUX_LOG_LEVEL") or "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config()
    except ConfigError as err:
        print(f"numaflux vertex: {err}", file=sys.stderr)
        return EXIT_CONFIG
    from numaflux.dataplane.vertex import SpecError, serve

    _tune_gc()
    try:
        if os.environ.get(ENV_LOOP, "uvloop") == "asyncio":
            return asyncio.run(serve(config))
        try:
            import uvloop
        except ImportError:
            return asyncio.run(serve(config))
        return uvloop.run(serve(config))
    except SpecError as err:
        print(f"numaflux vertex: {err}", file=sys.stderr)
        return EXIT_CONFIG
