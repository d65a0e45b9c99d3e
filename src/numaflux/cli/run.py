"""`numaflux run FILE`: run a pipeline on the local cluster, watch it live, then pause with drain."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
import yaml
from kubernetes_asyncio import config as kconfig
from kubernetes_asyncio.client.exceptions import ApiException
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from numaflux.api.duration import parse_duration_seconds
from numaflux.api.loader import load_yaml_documents
from numaflux.api.pipeline import Pipeline
from numaflux.api.validation import validate_document
from numaflux.controller.kube import KubeClient
from numaflux.controller.vertex.pods import UD_FALLBACK_SINK, UD_ON_SUCCESS_SINK, UD_SINK
from numaflux.kubelet.paths import container_log_path
from numaflux.local import paths, run, supervisor

EXIT_INVALID, EXIT_UNREADABLE = 1, 2
ISB_TIMEOUT = 120.0
PLAIN_EVERY = 5.0
TAIL_LINES = 5
SINK_CONTAINERS = ("numa", UD_SINK, UD_FALLBACK_SINK, UD_ON_SUCCESS_SINK)


def _load(file: Path) -> list[dict[str, Any]]:
    """Every non-empty document, validated; exits 2 if unreadable, 1 if any is invalid."""
    try:
        docs = [d for d in load_yaml_documents(file.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        typer.echo(f"{file}: cannot read: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    invalid = False
    for index, doc in enumerate(docs):
        result = validate_document(doc)
        for err in result.errors:
            typer.echo(f"{file}#{index}  {result.kind}/{result.name}  {err}", err=True)
            invalid = True
    if invalid:
        raise typer.Exit(EXIT_INVALID)
    return docs


def _pipeline(docs: list[dict[str, Any]], file: Path) -> tuple[dict[str, Any], Pipeline]:
    for doc in docs:
        obj = validate_document(doc).obj
        if isinstance(obj, Pipeline):
            return doc, obj
    typer.echo(f"{file}: no Pipeline to run", err=True)
    raise typer.Exit(EXIT_INVALID)


def _tail(data_dir: Path, namespace: str, pod: str) -> list[str]:
    """The latest lines of a sink pod: its `numa` container (the built-in sinks) and, prefixed with the
    container's name, its user-defined sink containers (primary, fallback, onSuccess)."""
    lines: list[str] = []
    for container in SINK_CONTAINERS:
        path = container_log_path(data_dir, namespace, pod, container)
        try:
            with path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
                found = f.read().decode(errors="replace").splitlines()[-TAIL_LINES:]
        except OSError:
            continue
        lines.extend(line if container == "numa" else f"[{container}] {line}" for line in found)
    return lines


def _table(name: str, snap: run.Snapshot, elapsed: float, note: str) -> Table:
    table = Table(
        title=f"pipeline {name}: {snap.phase}  ({elapsed:.0f}s)", caption=snap.message or note or None
    )
    for column in ("vertex", "desired", "current", "ready", "msgs/s", "read"):
        table.add_column(column, justify="left" if column == "vertex" else "right")
    for v in snap.vertices:
        table.add_row(v.name, str(v.desired), str(v.current), str(v.ready), f"{v.rate:.1f}", f"{v.read:.0f}")
    return table


def _plain(name: str, snap: run.Snapshot, elapsed: float) -> str:
    parts = [f"{v.name} {v.desired}/{v.current}/{v.ready} {v.rate:.1f}/s" for v in snap.vertices]
    message = f" ({snap.message})" if snap.message else ""
    return " | ".join([f"[{elapsed:4.0f}s] pipeline {name} {snap.phase}{message}", *parts])


class _Stop:
    """First Ctrl-C: stop watching and pause; second: leave at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self) -> None:
        if self.event.is_set():
            os._exit(130)
        typer.echo("\ninterrupted: pausing the pipeline (Ctrl-C again to quit at once)", err=True)
        self.event.set()


async def _watch(
    observer: run.Observer,
    stop: _Stop,
    name: str,
    data_dir: Path,
    seconds: float | None,
    tail: bool,
    clock: Callable[[], float],
) -> None:
    console = Console()
    started = clock()
    end = started + seconds if seconds is not None else None
    last_plain = float("-inf")
    live = Live(console=console, refresh_per_second=1, auto_refresh=False) if console.is_terminal else None
    with live if live is not None else contextlib.nullcontext():
        while not stop.event.is_set() and (end is None or clock() < end):
            note = ""
            try:
                snap = await observer.snapshot()
            except (ApiException, aiohttp.ClientError, TimeoutError) as err:
                snap, note = run.Snapshot("Unknown", "", None, []), f"API request failed: {err}"
            elapsed = clock() - started
            if live is not None:
                parts: list[RenderableType] = [_table(name, snap, elapsed, note)]
                if tail:
                    for v in (v for v in snap.vertices if v.is_sink):
                        for pod in v.pods:
                            parts.append(Text(f"── {pod} ──", style="dim"))
                            parts.extend(Text(line) for line in _tail(data_dir, observer.namespace, pod))
                live.update(Group(*parts), refresh=True)
            elif clock() - last_plain >= PLAIN_EVERY:
                last_plain = clock()
                typer.echo(note or _plain(name, snap, elapsed))
                if tail:
                    for v in (v for v in snap.vertices if v.is_sink):
                        for pod in v.pods:
                            for line in _tail(data_dir, observer.namespace, pod):
                                typer.echo(f"  {pod}: {line}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.event.wait(), 1.0)


async def _pause_and_total(observer: run.Observer, name: str, grace: int, clock: Callable[[], float]) -> int:
    typer.echo(f"pausing pipeline {name} (drains first; grace period {grace}s)")
    await run.pause(observer.kube, observer.namespace, name)
    deadline = run.pause_deadline(grace, clock())
    while True:
        snap = await observer.snapshot()
        if snap.phase == "Paused":
            break
        if clock() >= deadline:
            typer.echo(
                f"error: pipeline {name} not Paused in time (phase {snap.phase}: {snap.message})", err=True
            )
            return 1
        await asyncio.sleep(1.0)
    typer.echo(f"pipeline {name} Paused")
    typer.echo("totals (messages read):")
    for v in snap.vertices:
        typer.echo(f"  {v.name:<16} {v.read:.0f}")
    drained = "true" if snap.drained_on_pause else "false"
    typer.echo(f"drainedOnPause: {drained}")
    return 0


async def _session(
    docs: list[dict[str, Any]], pipeline: Pipeline, data_dir: Path, seconds: float | None, tail: bool
) -> int:
    clock = run.monotonic
    name = pipeline.metadata.name or ""
    namespace = run.namespace_of(next(d for d in docs if d.get("kind") == "Pipeline"))
    stop = _Stop()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop)
    api = await kconfig.new_client_from_config(config_file=str(paths.kubeconfig_path(data_dir)))
    kube = KubeClient(api)
    observer = run.Observer(kube, namespace, name, clock)
    try:
        # ISB services of the file go first, so `default` from the file wins over the one created here.
        ordered = sorted(docs, key=lambda d: d.get("kind") != "InterStepBufferService")
        for doc in ordered:
            if doc.get("kind") == "InterStepBufferService":
                verb = await run.apply(kube, doc, run.namespace_of(doc))
                typer.echo(f"InterStepBufferService/{doc['metadata']['name']} {verb}")
        typer.echo(f"waiting for InterStepBufferService {namespace}/{run.ISB_NAME} to be healthy")
        if await run.ensure_isb(kube, namespace, ISB_TIMEOUT, clock):
            typer.echo(f"InterStepBufferService/{run.ISB_NAME} created")
        for doc in ordered:
            if doc.get("kind") != "InterStepBufferService":
                verb = await run.apply(kube, doc, run.namespace_of(doc))
                typer.echo(f"{doc['kind']}/{doc['metadata']['name']} {verb}")
        await _watch(observer, stop, name, data_dir, seconds, tail, clock)
        return await _pause_and_total(observer, name, pipeline.get_pause_grace_period_seconds(), clock)
    finally:
        await observer.close()
        await api.close()


def run_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="YAML with a Pipeline (and optionally more).")],
    duration: Annotated[
        str | None,
        typer.Option("--for", help="run this long (e.g. 30s, 2m), then pause; default: until Ctrl-C"),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="local cluster state directory (default: $NUMAFLUX_DIR or ~/.numaflux/local)"
        ),
    ] = None,
    tail: Annotated[
        bool, typer.Option("--tail/--no-tail", help="show the sink vertices' latest log lines")
    ] = True,
) -> None:
    """Run FILE's pipeline on the local cluster (started if needed), show it live, then pause with drain."""
    seconds: float | None = None
    if duration is not None:
        try:
            seconds = parse_duration_seconds(duration)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--for") from err
    docs = _load(file)
    _, pipeline = _pipeline(docs, file)
    data_dir = (directory or paths.default_data_dir()).expanduser().resolve()
    try:
        run.start_cluster(data_dir)
    except supervisor.StartError as err:
        typer.echo(f"error: local cluster failed to start: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"local cluster running in {data_dir}")
    try:
        code = asyncio.run(_session(docs, pipeline, data_dir, seconds, tail))
    except (ApiException, TimeoutError, ValueError, RuntimeError) as err:
        typer.echo(f"error: {err}", err=True)
        code = 1
    typer.echo(f"the local cluster keeps running; stop it with: numaflux local down --dir {data_dir}")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `numaflux run`."""
    app.command("run")(run_command)
