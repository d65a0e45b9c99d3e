"""`numaflux daemon`: the per-pipeline daemon server, configured from the pod environment."""

from __future__ import annotations

import asyncio
import logging
import sys

import typer


def register(app: typer.Typer) -> None:
    @app.command("daemon")
    def daemon(
        log_level: str = typer.Option(
            "INFO", "--log-level", envvar="NUMAFLUX_LOG_LEVEL", help="logging level"
        ),
    ) -> None:
        """Serve a pipeline's buffer info, rates, watermarks and data health on port 4327 (plain HTTP)
        (env: NUMAFLOW_PIPELINE_OBJECT, NUMAFLOW_ISBSVC_JETSTREAM_URL, NUMAFLUX_POD_IP, ...)."""
        from numaflux.daemon.config import ConfigError, load_config
        from numaflux.daemon.server import serve

        logging.basicConfig(
            level=log_level.upper(),
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        try:
            config = load_config()
        except ConfigError as err:
            typer.echo(f"numaflux daemon: {err}", err=True)
            raise typer.Exit(2) from err
        raise typer.Exit(asyncio.run(serve(config)))
