"""Entry point of the `numaflux` command.

Each command group lives in its own module under `numaflux.cli` and exposes
`register(app: typer.Typer) -> None`; add the module's name to COMMAND_MODULES.
"""

from __future__ import annotations

import importlib

import typer

from numaflux import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "local",
    "crds",
    "validate",
    "vertex",
    "controller",
    "daemon",
    "run",
    "lifecycle",
)

app = typer.Typer(
    name="numaflux",
    help="NumaFlow pipelines on Kubernetes or on this machine alone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """NumaFlow pipelines on Kubernetes or on this machine alone."""


@app.command()
def version() -> None:
    """Print the numaflux version."""
    typer.echo(__version__)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"numaflux.cli.{name}")
        module.register(app)


_register_commands()


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
