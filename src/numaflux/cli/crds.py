"""`numaflux crds`: print the NumaFlow CustomResourceDefinitions as YAML (`| kubectl apply -f -`)."""

from __future__ import annotations

from typing import Annotated

import typer

from numaflux.api.crds import UnknownCRDKindError, crds_yaml


def crds(
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only this kind (Pipeline, Vertex, MonoVertex, InterStepBufferService, or a plural or short "
            "name such as pl, vtx, mvtx, isbsvc). Repeat for several; default all four.",
        ),
    ] = None,
) -> None:
    """Print the CustomResourceDefinitions of the four NumaFlow kinds as a multi-document YAML stream."""
    try:
        text = crds_yaml(kind)
    except UnknownCRDKindError as exc:
        typer.echo(f"error: --kind: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add the `crds` command."""
    app.command(name="crds")(crds)
