"""`numaflux describe KIND NAME`: metadata, a summary of the spec, status, conditions and recent Events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from numaflux.api import constants as c
from numaflux.cli import client
from numaflux.controller.kube import JSON, KubeClient

KindArg = Annotated[str, typer.Argument(metavar="KIND", help="pipeline|pl, vertex|vtx, pod, isbsvc, …")]
NameArg = Annotated[str, typer.Argument(metavar="NAME")]


def _vertex_type(v: JSON) -> str:
    for key in ("source", "udf", "sink"):
        if v.get(key):
            return key
    return "?"


def spec_summary(kind: str, obj: JSON) -> list[tuple[str, str]]:
    """What the spec asks for, in a few lines per kind."""
    spec = obj.get("spec") or {}
    lifecycle = (spec.get("lifecycle") or {}).get("desiredPhase") or "Running"
    if kind == c.KIND_PIPELINE:
        vertices = spec.get("vertices") or []
        edges = spec.get("edges") or []
        return [
            ("Desired phase", str(lifecycle)),
            ("ISB service", str(spec.get("interStepBufferServiceName") or c.DEFAULT_ISB_SERVICE_NAME)),
            ("Vertices", ", ".join(f"{v.get('name')} ({_vertex_type(v)})" for v in vertices) or "-"),
            ("Edges", ", ".join(f"{e.get('from')}->{e.get('to')}" for e in edges) or "-"),
        ]
    if kind in (c.KIND_VERTEX, c.KIND_MONO_VERTEX):
        scale = spec.get("scale") or {}
        rows = [
            ("Desired phase", str(lifecycle)),
            ("Replicas", str(spec.get("replicas", "-"))),
            ("Scale", f"min {scale.get('min', '-')}, max {scale.get('max', '-')}"),
        ]
        if kind == c.KIND_VERTEX:
            rows.insert(0, ("Pipeline", str(spec.get("pipelineName") or "-")))
            rows.insert(1, ("Type", _vertex_type(spec)))
        return rows
    if kind == c.KIND_ISB_SERVICE:
        js = spec.get("jetstream") or {}
        return [
            ("JetStream version", str(js.get("version") or "-")),
            ("Replicas", str(js.get("replicas", 3))),
        ]
    if kind == "Pod":
        containers = spec.get("containers") or []
        return [
            ("Node", str(spec.get("nodeName") or "-")),
            ("Containers", ", ".join(f"{ct.get('name')} ({ct.get('image')})" for ct in containers) or "-"),
        ]
    return [(key, _short(value)) for key, value in spec.items()]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."


def status_fields(obj: JSON) -> list[tuple[str, str]]:
    """Scalar status fields (conditions are shown apart)."""
    status = obj.get("status") or {}
    return [
        (key, _short(value))
        for key, value in status.items()
        if key != "conditions" and not isinstance(value, dict | list)
    ]


def render(kn: client.KindName, obj: JSON, events: list[JSON], now: dt.datetime) -> list[str]:
    meta = obj.get("metadata") or {}
    lines = [f"Name:         {meta.get('name')}"]
    if kn.kind.namespaced:
        lines.append(f"Namespace:    {meta.get('namespace')}")
    lines.append(f"Kind:         {kn.kind.kind} ({kn.kind.api_version})")
    lines.append(f"Created:      {meta.get('creationTimestamp', '-')}")
    for title, key in (("Labels", "labels"), ("Annotations", "annotations")):
        values = meta.get(key) or {}
        lines.append(f"{title + ':':<14}{'<none>' if not values else ''}")
        lines.extend(f"  {k}={_short(v)}" for k, v in sorted(values.items()))
    for owner in meta.get("ownerReferences") or []:
        lines.append(f"Controlled by: {owner.get('kind')}/{owner.get('name')}")
    lines.append("Spec:")
    lines.extend(f"  {k + ':':<20}{v}" for k, v in spec_summary(kn.kind.kind, obj))
    lines.append("Status:")
    fields = status_fields(obj)
    lines.extend(f"  {k + ':':<20}{v}" for k, v in fields)
    if not fields:
        lines.append("  <none>")
    conditions = (obj.get("status") or {}).get("conditions") or []
    lines.append("Conditions:")
    if conditions:
        rows = [("TYPE", "STATUS", "REASON", "MESSAGE")]
        rows += [
            (
                str(x.get("type", "")),
                str(x.get("status", "")),
                str(x.get("reason") or ""),
                str(x.get("message") or ""),
            )
            for x in conditions
        ]
        lines.extend("  " + line for line in _columns(rows))
    else:
        lines.append("  <none>")
    lines.append("Events:")
    if events:
        rows = [("AGE", "TYPE", "REASON", "MESSAGE")]
        rows += [
            (
                client.event_age(e, now),
                str(e.get("type", "")),
                str(e.get("reason", "")),
                str(e.get("message", "")),
            )
            for e in events
        ]
        lines.extend("  " + line for line in _columns(rows))
    else:
        lines.append("  <none>")
    return lines


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]


async def _describe(kube: KubeClient, kn: client.KindName, namespace: str, name: str) -> None:
    ns = namespace if kn.kind.namespaced else None
    with client.not_found_names(kn, namespace, name):
        obj = await kube.get(kn.kind, ns, name)
    events = await client.events_of(kube, namespace, kn.kind.kind, name) if ns else []
    typer.echo("\n".join(render(kn, obj, events, dt.datetime.now(dt.UTC))))


def describe_command(
    kind: KindArg, name: NameArg, namespace: client.NamespaceOpt = "default", directory: client.DirOpt = None
) -> None:
    """Show an object: metadata, spec summary, status, conditions and its recent Events.

    Exit codes: 0 success; 1 error (unknown kind, not found, API error).
    """
    kn = client.resolve_or_exit(kind)
    client.run(directory, lambda kube: _describe(kube, kn, namespace, name), kn.describe(namespace, name))


def register(app: typer.Typer) -> None:
    """Add `numaflux describe`."""
    app.command("describe")(describe_command)
