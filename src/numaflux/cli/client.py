"""What the kubectl-like verbs (`apply`, `get`, `describe`, `delete`, `logs`, `scale`) share: the cluster
they talk to (the local cluster's kubeconfig when it exists, else $KUBECONFIG), kind names, apply,
server-side Tables (the columns `kubectl get` shows), Events of an object, and error reporting."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException

from numaflux.api import constants as c
from numaflux.api.crds.definitions import KIND_INFOS
from numaflux.controller.kube import (
    CONFIG_MAP,
    DEPLOYMENT,
    EVENT,
    JSON,
    POD,
    SERVICE,
    STATEFUL_SET,
    Kind,
    KubeClient,
    is_conflict,
    is_not_found,
)
from numaflux.local import lifecycle as lc

EXIT_OK, EXIT_ERROR, EXIT_UNREADABLE, EXIT_TIMEOUT = 0, 1, 2, 3
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
EVENT_LIMIT = 10

NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the object(s)")]
DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="local cluster state directory (default: $NUMAFLUX_DIR or ~/.numaflux/local, else $KUBECONFIG)",
    ),
]
SECRET = Kind("", "v1", "secrets", "Secret")
SERVICE_ACCOUNT = Kind("", "v1", "serviceaccounts", "ServiceAccount")


@dataclass(frozen=True)
class KindName:
    """A kind as the verbs accept it: its resource, every name for it, and whether it is NumaFlow's."""

    kind: Kind
    names: frozenset[str]

    @property
    def numaflow(self) -> bool:
        return self.kind.group == c.API_GROUP

    def describe(self, namespace: str, name: str) -> str:
        """`Pipeline ns/name`: how errors name an object."""
        return f"{self.kind.kind} {namespace}/{name}"


def _numaflow_kinds() -> list[KindName]:
    return [
        KindName(Kind(c.API_GROUP, c.API_VERSION, i.plural, i.kind), frozenset(i.names())) for i in KIND_INFOS
    ]


KIND_NAMES: tuple[KindName, ...] = (
    *_numaflow_kinds(),
    KindName(POD, frozenset({"pod", "pods", "po"})),
    KindName(SERVICE, frozenset({"service", "services", "svc"})),
    KindName(DEPLOYMENT, frozenset({"deployment", "deployments", "deploy"})),
    KindName(STATEFUL_SET, frozenset({"statefulset", "statefulsets", "sts"})),
    KindName(CONFIG_MAP, frozenset({"configmap", "configmaps", "cm"})),
    KindName(SECRET, frozenset({"secret", "secrets"})),
    KindName(SERVICE_ACCOUNT, frozenset({"serviceaccount", "serviceaccounts", "sa"})),
    KindName(EVENT, frozenset({"event", "events", "ev"})),
)


class Fail(Exception):
    """Stop with an exit code and a message for stderr."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def resolve_kind(name: str) -> KindName:
    """The kind for a name such as `pl`, `vertices`, `Pipeline` or `isbsvc`; Fail if unknown."""
    wanted = name.lower().split(".", 1)[0]
    for kn in KIND_NAMES:
        if wanted in kn.names or wanted == kn.kind.kind.lower():
            return kn
    known = ", ".join(sorted(min(kn.names, key=len) for kn in KIND_NAMES))
    raise Fail(f"unknown kind {name!r} (known: {known})")


def kind_of_document(doc: JSON) -> KindName:
    """The kind of an applied document, from its `kind` (and group of `apiVersion`)."""
    kind = str(doc.get("kind") or "")
    group = str(doc.get("apiVersion") or "").rpartition("/")[0]
    for kn in KIND_NAMES:
        if kn.kind.kind == kind and kn.kind.group == group:
            return kn
    raise Fail(f"kind {kind or '?'} ({doc.get('apiVersion') or 'no apiVersion'}) cannot be applied")


def api_reason(err: ApiException) -> str:
    """The server's message for a failed request (its Status message when there is one)."""
    try:
        body = json.loads(err.body) if err.body else {}
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    if is_not_found(err):
        return "not found"
    return str(message or f"API error {err.status} {err.reason}")


def resolve_or_exit(name: str) -> KindName:
    """`resolve_kind`, or exit 1 saying why (before any connection is made)."""
    try:
        return resolve_kind(name)
    except Fail as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_ERROR) from err


@contextlib.contextmanager
def not_found_names(kn: KindName, namespace: str, name: str) -> Iterator[None]:
    """A 404 from the API inside the block becomes a Fail naming the object."""
    try:
        yield
    except ApiException as err:
        if is_not_found(err):
            raise Fail(f"{kn.describe(namespace, name)} not found") from err
        raise


def run(directory: Path | None, body: Callable[[KubeClient], Awaitable[None]], what: str) -> None:
    """Run `body` with a client for the cluster; errors go to stderr naming `what`, and exit non-zero."""

    async def session() -> None:
        api = await lc.open_client(directory)
        try:
            await body(KubeClient(api))
        finally:
            await api.close()

    try:
        asyncio.run(session())
    except Fail as err:
        typer.echo(f"{'timeout' if err.code == EXIT_TIMEOUT else 'error'}: {err}", err=True)
        raise typer.Exit(err.code) from err
    except ApiException as err:
        typer.echo(f"error: {what}: {api_reason(err)}", err=True)
        raise typer.Exit(EXIT_ERROR) from err
    except (ConfigException, OSError, aiohttp.ClientError, TimeoutError) as err:
        typer.echo(f"error: {what}: cannot reach the cluster: {err}", err=True)
        raise typer.Exit(EXIT_ERROR) from err
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def apply(kube: KubeClient, doc: JSON, namespace: str) -> str:
    """Create the object, or update it (everything but status and server-owned metadata, labels and
    annotations merged); returns 'created', 'configured' or 'unchanged'."""
    kn = kind_of_document(doc)
    meta = dict(doc.get("metadata") or {})
    if kn.kind.namespaced:
        meta["namespace"] = meta.get("namespace") or namespace
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "status")}
    body["metadata"] = meta
    try:
        await kube.create(kn.kind, body)
        return "created"
    except ApiException as err:
        if not is_conflict(err):
            raise
    content = [k for k in body if k != "metadata"]
    for _ in range(5):
        current = await kube.get(kn.kind, meta.get("namespace"), meta["name"])
        updated = dict(current)
        cur_meta = dict(current.get("metadata") or {})
        for key in ("labels", "annotations"):
            if meta.get(key):
                cur_meta[key] = {**(cur_meta.get(key) or {}), **meta[key]}
        updated["metadata"] = cur_meta
        for key in content:
            updated[key] = body[key]
        if updated == current:
            return "unchanged"
        try:
            await kube.replace(kn.kind, updated)
            return "configured"
        except ApiException as err:
            if not is_conflict(err):
                raise
    raise Fail(f"{kn.describe(meta.get('namespace') or '', meta['name'])}: kept conflicting with updates")


async def table(kube: KubeClient, kind: Kind, namespace: str | None, name: str | None = None) -> JSON:
    """The server's meta.k8s.io/v1 Table for a list (or one object): what `kubectl get` prints."""
    result = await kube.api.call_api(
        kind.path(namespace, name),
        "GET",
        header_params={"Accept": TABLE_ACCEPT},
        response_types_map={200: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _preload_content=True,
    )
    return result if isinstance(result, dict) else {}


def render_table(tables: list[JSON], *, wide: bool = False, namespaces: bool = False) -> list[str]:
    """Rows of Tables as kubectl prints them: upper-case headers, columns padded, priority > 0 only
    when wide, one NAMESPACE column first across namespaces."""
    if not tables:
        return []
    columns = tables[0].get("columnDefinitions") or []
    shown = [i for i, col in enumerate(columns) if wide or int(col.get("priority") or 0) == 0]
    header = [str(columns[i].get("name", "")).upper() for i in shown]
    rows: list[list[str]] = []
    for t in tables:
        for row in t.get("rows") or []:
            cells = row.get("cells") or []
            line = [_cell(cells[i]) if i < len(cells) else "" for i in shown]
            if namespaces:
                ns = ((row.get("object") or {}).get("metadata") or {}).get("namespace", "")
                line.insert(0, str(ns))
            rows.append(line)
    if namespaces:
        header.insert(0, "NAMESPACE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["   ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in [header, *rows]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def events_of(kube: KubeClient, namespace: str, kind: str, name: str) -> list[JSON]:
    """The object's Events, oldest first, the last EVENT_LIMIT."""
    items = (await kube.list(EVENT, namespace)).get("items") or []
    mine = [
        e
        for e in items
        if (e.get("involvedObject") or {}).get("name") == name
        and (e.get("involvedObject") or {}).get("kind") in (None, kind)
    ]
    return sorted(mine, key=lc.event_time)[-EVENT_LIMIT:]


def event_age(event: JSON, now: dt.datetime) -> str:
    stamp = lc.event_time(event)
    if not stamp:
        return "<unknown>"
    seconds = int((now - dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


async def stream_logs(
    kube: KubeClient, namespace: str, pod: str, container: str | None, follow: bool
) -> AsyncIterator[bytes]:
    """The container's log from the pods/log subresource, chunk by chunk (until the stream ends)."""
    query: list[tuple[str, str]] = []
    if container:
        query.append(("container", container))
    if follow:
        query.append(("follow", "true"))
    timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=None if follow else 60)
    response = await kube.api.call_api(
        POD.path(namespace, pod, "log"),
        "GET",
        query_params=query,
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=timeout,
    )
    try:
        if response.status != 200:
            text = await response.text()
            err = ApiException(status=response.status, reason=str(response.reason))
            err.body = text
            raise err
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()
