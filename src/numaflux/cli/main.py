"""Entry point of the `numaflux` command.

Each command group lives in its own module under `numaflux.cli` and exposes
`register(app: typer.Typer) -> None`; every such module is registered, in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from numaflux import __version__, cli

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
    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"numaflux.cli.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


_register_commands()


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
