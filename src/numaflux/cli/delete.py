"""`numaflux delete KIND NAME`: delete an object (a pipeline's finalizer may delay its removal)."""

from __future__ import annotations

from typing import Annotated

import typer

from numaflux.cli import client
from numaflux.controller.kube import KubeClient

KindArg = Annotated[str, typer.Argument(metavar="KIND", help="pipeline|pl, vertex|vtx, pod, isbsvc, …")]
NameArg = Annotated[str, typer.Argument(metavar="NAME")]


async def _delete(kube: KubeClient, kn: client.KindName, namespace: str, name: str) -> None:
    with client.not_found_names(kn, namespace, name):
        await kube.delete(kn.kind, namespace if kn.kind.namespaced else None, name, propagation="Background")
    typer.echo(f"{kn.kind.kind.lower()}/{name} deleted")


def delete_command(
    kind: KindArg, name: NameArg, namespace: client.NamespaceOpt = "default", directory: client.DirOpt = None
) -> None:
    """Delete an object.

    Exit codes: 0 deleted; 1 error (unknown kind, not found, API error).
    """
    kn = client.resolve_or_exit(kind)
    client.run(directory, lambda kube: _delete(kube, kn, namespace, name), kn.describe(namespace, name))


def register(app: typer.Typer) -> None:
    """Add `numaflux delete`."""
    app.command("delete")(delete_command)
