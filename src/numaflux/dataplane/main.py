"""Process entry of the vertex: logging, config from the pod env, event loop, exit code."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

EXIT_CONFIG = 2
ENV_LOOP = "NUMAFLUX_EVENT_LOOP"  # "uvloop" (default) or "asyncio"


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
