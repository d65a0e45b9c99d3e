"""`numaflux apply -f FILE`: create or update every object of a (multi-document) YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

from numaflux.api.loader import load_yaml_documents
from numaflux.api.validation import validate_document
from numaflux.cli import client
from numaflux.controller.kube import KubeClient


def load(file: Path) -> list[dict[str, Any]]:
    """Every non-empty document; NumaFlow kinds validated first. Exits 2 if unreadable, 1 if invalid."""
    try:
        text = file.read_text(encoding="utf-8") if str(file) != "-" else typer.get_text_stream("stdin").read()
        docs = [d for d in load_yaml_documents(text) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        typer.echo(f"error: {file}: cannot read: {exc}", err=True)
        raise typer.Exit(client.EXIT_UNREADABLE) from exc
    invalid = False
    for index, doc in enumerate(docs):
        try:
            kn = client.kind_of_document(doc) if isinstance(doc, dict) else None
        except client.Fail as err:
            typer.echo(f"error: {file}#{index}: {err}", err=True)
            invalid = True
            continue
        if kn is None:
            typer.echo(f"error: {file}#{index}: not an object", err=True)
            invalid = True
        elif kn.numaflow:
            result = validate_document(doc)
            for problem in result.errors:
                typer.echo(f"error: {file}#{index}  {result.kind}/{result.name}  {problem}", err=True)
                invalid = True
    if invalid:
        raise typer.Exit(client.EXIT_ERROR)
    return docs


async def _apply(kube: KubeClient, docs: list[dict[str, Any]], namespace: str) -> None:
    # ISB services first: pipelines in the same file find theirs at once.
    ordered = sorted(docs, key=lambda d: d.get("kind") != "InterStepBufferService")
    for doc in ordered:
        kn = client.kind_of_document(doc)
        name = str((doc.get("metadata") or {}).get("name") or "?")
        ns = str((doc.get("metadata") or {}).get("namespace") or namespace)
        try:
            verb = await client.apply(kube, doc, namespace)
        except ApiException as err:
            raise client.Fail(f"{kn.describe(ns, name)}: {client.api_reason(err)}") from err
        typer.echo(f"{kn.kind.kind.lower()}/{name} {verb}")


def apply_command(
    file: Annotated[Path, typer.Option("--filename", "-f", help="YAML file ('-' for stdin)")],
    namespace: client.NamespaceOpt = "default",
    directory: client.DirOpt = None,
) -> None:
    """Create or update every object in FILE (NumaFlow kinds are validated first).

    Exit codes: 0 applied; 1 invalid or rejected by the cluster; 2 file unreadable.
    """
    docs = load(file)
    client.run(directory, lambda kube: _apply(kube, docs, namespace), str(file))


def register(app: typer.Typer) -> None:
    """Add `numaflux apply`."""
    app.command("apply")(apply_command)
