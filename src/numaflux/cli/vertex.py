"""`numaflux vertex`: the main (`numa`) container of a vertex pod, configured from the pod environment.

Same as `python -m numaflux.dataplane` (which skips loading the other CLI commands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("vertex")
    def vertex(
        log_level: str = typer.Option(
            "INFO", "--log-level", envvar="NUMAFLUX_LOG_LEVEL", help="logging level"
        ),
    ) -> None:
        """Run one vertex replica (env: NUMAFLOW_VERTEX_OBJECT, NUMAFLOW_ISBSVC_JETSTREAM_URL, ...)."""
        from numaflux.dataplane.main import main

        raise typer.Exit(main(log_level))
