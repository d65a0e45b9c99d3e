"""`numaflux get KIND[,KIND...] [NAME]`: the columns `kubectl get` shows (the server's Tables, so NumaFlow's
printer columns for pipelines, vertices and ISB services), or the objects as YAML/JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

from numaflux.cli import client
from numaflux.controller.kube import JSON, KubeClient, is_not_found

OUTPUTS = ("wide", "yaml", "json", "name")


async def _get(
    kube: KubeClient, kinds: list[client.KindName], name: str | None, namespace: str | None, output: str
) -> None:
    blocks: list[list[str]] = []
    for kn in kinds:
        ns = namespace if kn.kind.namespaced else None
        try:
            if output in ("yaml", "json", "name"):
                objects = await _objects(kube, kn, ns, name)
                blocks.append(_render_objects(kn, objects, output))
                continue
            found = await client.table(kube, kn.kind, ns, name)
        except ApiException as err:
            if name is not None and is_not_found(err):
                raise client.Fail(f"{kn.describe(namespace or '', name)} not found") from err
            raise
        lines = client.render_table([found], wide=output == "wide", namespaces=namespace is None)
        if len(lines) > 1:
            blocks.append(lines)
    if not blocks:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        typer.echo(f"No resources found in {where}.", err=True)
        return
    typer.echo("\n\n".join("\n".join(b) for b in blocks))


async def _objects(kube: KubeClient, kn: client.KindName, ns: str | None, name: str | None) -> list[JSON]:
    if name is not None:
        obj = await kube.get(kn.kind, ns, name)
        return [{"apiVersion": kn.kind.api_version, "kind": kn.kind.kind, **obj}]
    items = (await kube.list(kn.kind, ns)).get("items") or []
    return [{"apiVersion": kn.kind.api_version, "kind": kn.kind.kind, **o} for o in items]


def _render_objects(kn: client.KindName, objects: list[JSON], output: str) -> list[str]:
    if output == "name":
        return [f"{kn.kind.kind.lower()}/{o['metadata']['name']}" for o in objects]
    doc: JSON = objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    if output == "json":
        return [json.dumps(doc, indent=2)]
    return [yaml.safe_dump(doc, sort_keys=False).rstrip()]


def get_command(
    kinds: Annotated[
        str,
        typer.Argument(
            metavar="KIND[,KIND...]", help="pipelines|pl, vertices|vtx, pods|po, isbsvc, mvtx, svc, deploy…"
        ),
    ],
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="one object")] = None,
    namespace: client.NamespaceOpt = "default",
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="every namespace (adds a NAMESPACE column)")
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="wide, yaml, json or name")] = "",
    directory: client.DirOpt = None,
) -> None:
    """List objects with the columns `kubectl get` shows (NumaFlow's printer columns for its kinds).

    Exit codes: 0 success; 1 error (unknown kind, not found, API error).
    """
    if output and output not in OUTPUTS:
        raise typer.BadParameter(f"must be one of {', '.join(OUTPUTS)}", param_hint="--output")
    try:
        resolved = [client.resolve_kind(k) for k in kinds.split(",") if k]
    except client.Fail as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(client.EXIT_ERROR) from err
    if name is not None and len(resolved) != 1:
        typer.echo("error: NAME needs exactly one KIND", err=True)
        raise typer.Exit(client.EXIT_ERROR)
    ns = None if all_namespaces else namespace
    what = f"{kinds} {name}" if name else kinds
    client.run(directory, lambda kube: _get(kube, resolved, name, ns, output), what)


def register(app: typer.Typer) -> None:
    """Add `numaflux get`."""
    app.command("get")(get_command)
