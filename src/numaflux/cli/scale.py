"""`numaflux scale VERTEX --replicas N`: set a vertex's replicas through its scale subresource (the
Vertex controller clamps it to [scale.min, scale.max])."""

from __future__ import annotations

from typing import Annotated

import typer
from kubernetes_asyncio.client.exceptions import ApiException

from numaflux.api.crds.definitions import KIND_INFOS
from numaflux.cli import client
from numaflux.controller.kube import KubeClient, is_not_found

SCALABLE = frozenset(info.kind for info in KIND_INFOS if info.scalable)


async def _scale(kube: KubeClient, kn: client.KindName, namespace: str, name: str, replicas: int) -> None:
    try:
        scale = await kube.patch(kn.kind, namespace, name, {"spec": {"replicas": replicas}}, sub="scale")
    except ApiException as err:
        if is_not_found(err):
            raise client.Fail(f"{kn.describe(namespace, name)} not found") from err
        raise
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
    try:
        kn = client.resolve_kind(kind or "vertex")
        if kn.kind.kind not in SCALABLE:
            raise client.Fail(f"{kn.kind.kind} cannot be scaled with numaflux scale")
    except client.Fail as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(client.EXIT_ERROR) from err
    client.run(
        directory, lambda kube: _scale(kube, kn, namespace, name, replicas), kn.describe(namespace, name)
    )


def register(app: typer.Typer) -> None:
    """Add `numaflux scale`."""
    app.command("scale")(scale_command)
