"""`numaflux scale VERTEX --replicas N`: set a vertex's replicas through its scale subresource (the
Vertex controller clamps it to [scale.min, scale.max])."""

from __future__ import annotations

from typing import Annotated

import typer

from numaflux.api.crds.definitions import KIND_INFOS
from numaflux.cli import client
from numaflux.controller.kube import KubeClient

SCALABLE = frozenset(info.kind for info in KIND_INFOS if info.scalable)


async def _scale(kube: KubeClient, kn: client.KindName, namespace: str, name: str, replicas: int) -> None:
    with client.not_found_names(kn, namespace, name):
        scale = await kube.patch(kn.kind, namespace, name, {"spec": {"replicas": replicas}}, sub="scale")
    typer.echo(f"{kn.kind.kind.lower()}/{name} scaled to {(scale.get('spec') or {}).get('replicas')}")


def scale_command(
    vertex: Annotated[str, typer.Argument(metavar="VERTEX", help="vertex name (or mvtx/NAME)")],
    replicas: Annotated[int, typer.Option("--replicas", min=0, help="the new spec.replicas")],
    namespace: client.NamespaceOpt = "default",
    directory: client.DirOpt = None,
) -> None:
    """Set VERTEX's spec.replicas through the scale subresource (clamped to its scale.min/max).

    Exit codes: 0 scaled; 1 error (not found, API error).
    """
    kind, _, name = vertex.rpartition("/")
    kn = client.resolve_or_exit(kind or "vertex")
    if kn.kind.kind not in SCALABLE:
        typer.echo(f"error: {kn.kind.kind} cannot be scaled with numaflux scale", err=True)
        raise typer.Exit(client.EXIT_ERROR)
    client.run(
        directory, lambda kube: _scale(kube, kn, namespace, name, replicas), kn.describe(namespace, name)
    )


def register(app: typer.Typer) -> None:
    """Add `numaflux scale`."""
    app.command("scale")(scale_command)
