"""`numaflux pause|resume|status PIPELINE`: drive and inspect a pipeline's lifecycle.

Exit codes: 0 success, 1 error (pipeline not found, API or ISB error), 3 timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import aiohttp
import nats.errors
import typer
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table

from numaflux.cli import client
from numaflux.cli.client import EXIT_TIMEOUT, DirOpt, Fail
from numaflux.controller.kube import JSON, PIPELINE, KubeClient
from numaflux.isb.info import BufferInfo
from numaflux.local import lifecycle as lc

POLL = 0.5
PLAIN_EVERY = 2.0
PAUSE_MARGIN = 30.0
RESUME_TIMEOUT = 120.0

NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="namespace of the pipeline")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="wait until done, showing progress")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="seconds to wait with --wait (exit 3 when exceeded)")
]
PipelineArg = Annotated[str, typer.Argument(metavar="PIPELINE", help="name of the pipeline")]


T = TypeVar("T")
TRANSIENT = (aiohttp.ClientError, OSError, TimeoutError)


def _run(directory: Path | None, body: Callable[[KubeClient], Awaitable[None]], what: str) -> None:
    # the progress shows "buffers unavailable"; nats reconnect chatter would only bury it
    logging.getLogger("numaflux.isb.connection").setLevel(logging.ERROR)
    client.run(directory, body, what)


async def _retrying(fetch: Callable[[], Awaitable[T]], deadline: float, clock: Callable[[], float]) -> T:
    """`fetch()`, retried every POLL s on a dropped connection until `deadline` (then the error stands)."""
    while True:
        try:
            return await fetch()
        except TRANSIENT as err:
            if clock() >= deadline:
                raise
            typer.echo(f"API request failed, retrying: {err!r}", err=True)
        await asyncio.sleep(POLL)


def _what(namespace: str, name: str) -> str:
    return f"pipeline {namespace}/{name}"


def _buffers_plain(infos: list[BufferInfo]) -> str:
    return ", ".join(f"{i.buffer} {i.pending}+{i.ack_pending}" for i in infos)


def _progress_table(title: str, infos: list[BufferInfo], note: str) -> Table:
    table = Table(title=title, caption=note or None)
    for column in ("buffer", "pending", "ackPending"):
        table.add_column(column, justify="left" if column == "buffer" else "right")
    for i in infos:
        table.add_row(i.buffer, str(i.pending), str(i.ack_pending))
    return table


def _vertex_table(title: str, rows: list[lc.VertexRow]) -> Table:
    table = Table(title=title)
    for column in ("vertex", "desiredPhase", "phase", "spec.replicas", "desired", "current", "ready"):
        table.add_column(column, justify="left" if column in ("vertex", "desiredPhase", "phase") else "right")
    for r in rows:
        spec = "-" if r.spec_replicas is None else str(r.spec_replicas)
        table.add_row(r.name, r.desired_phase, r.phase, spec, str(r.desired), str(r.current), str(r.ready))
    return table


class Progress:
    """Rich Live on a terminal; a plain line every PLAIN_EVERY seconds (and on change) otherwise."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.console = Console()
        self.clock = clock
        self.live = Live(console=self.console, auto_refresh=False) if self.console.is_terminal else None
        self.last_line, self.last_at = "", float("-inf")

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def show(self, renderable: RenderableType, line: str) -> None:
        if self.live is not None:
            self.live.update(renderable, refresh=True)
        elif line != self.last_line or self.clock() - self.last_at >= PLAIN_EVERY:
            self.last_line, self.last_at = line, self.clock()
            typer.echo(line)


async def _pause(
    kube: KubeClient, namespace: str, name: str, wait: bool, within: float | None, clock: Callable[[], float]
) -> None:
    await kube.patch(PIPELINE, namespace, name, lc.pause_patch())
    typer.echo(f"pipeline {namespace}/{name}: desiredPhase Paused")
    if not wait:
        return
    pl = await lc.get_pipeline(kube, namespace, name)
    limit = within if within is not None else lc.grace_seconds(pl) + PAUSE_MARGIN
    deadline = clock() + limit
    reader = lc.BufferReader(kube)
    started = clock()
    try:
        with Progress(clock) as progress:
            while True:
                pl = await _retrying(lambda: lc.get_pipeline(kube, namespace, name), deadline, clock)
                infos: list[BufferInfo] = []
                note = ""
                try:
                    infos = await reader.read(pl)
                except (nats.errors.Error, RuntimeError, TimeoutError, OSError) as err:
                    note = f"buffers unavailable: {err!r}"
                    await reader.close()
                elapsed = clock() - started
                title = f"pipeline {name}: {lc.phase(pl)}  ({elapsed:.0f}s)"
                line = f"[{elapsed:4.0f}s] {lc.phase(pl)} | {note or _buffers_plain(infos)}"
                progress.show(_progress_table(title, infos, note), line)
                if lc.is_paused(pl):
                    break
                if clock() >= deadline:
                    raise Fail(
                        f"{_what(namespace, name)} not Paused within {limit:g}s "
                        f"(phase {lc.phase(pl)}; buffers: {_buffers_plain(infos) or 'unknown'})",
                        EXIT_TIMEOUT,
                    )
                await asyncio.sleep(POLL)
    finally:
        await reader.close()
    if lc.drained_on_pause(pl):
        typer.echo("Paused, drained")
    else:
        typer.echo("Paused, not drained (grace period ran out)")


async def _resume(
    kube: KubeClient,
    namespace: str,
    name: str,
    strategy: str,
    wait: bool,
    within: float | None,
    clock: Callable[[], float],
) -> None:
    await kube.patch(PIPELINE, namespace, name, lc.resume_patch(strategy))
    typer.echo(f"pipeline {namespace}/{name}: desiredPhase Running (resume strategy {strategy})")
    if not wait:
        return
    limit = within if within is not None else RESUME_TIMEOUT
    deadline = clock() + limit
    started = clock()
    with Progress(clock) as progress:
        while True:
            pl = await _retrying(lambda: lc.get_pipeline(kube, namespace, name), deadline, clock)
            vertices = await _retrying(lambda: lc.list_vertices(kube, namespace, name), deadline, clock)
            rows = lc.vertex_rows(pl, vertices)
            elapsed = clock() - started
            title = f"pipeline {name}: {lc.phase(pl)}  ({elapsed:.0f}s)"
            parts = [f"{r.name} {r.phase} {r.ready}/{r.desired}" for r in rows]
            line = " | ".join([f"[{elapsed:4.0f}s] {lc.phase(pl)}", *parts])
            progress.show(_vertex_table(title, rows), line)
            if lc.is_resumed(pl, rows):
                break
            if clock() >= deadline:
                waiting = [f"{r.name} ready {r.ready}/{r.desired}" for r in rows if not r.settled_running]
                raise Fail(
                    f"{_what(namespace, name)} not Running with every vertex ready within {limit:g}s "
                    f"(phase {lc.phase(pl)}; waiting for: {', '.join(waiting) or 'pause marker removal'})",
                    EXIT_TIMEOUT,
                )
            await asyncio.sleep(POLL)
    typer.echo("Running; every vertex ready at its target:")
    for r in rows:
        typer.echo(f"  {r.name:<16} {r.desired}")


def _event_line(event: JSON) -> str:
    count = int(event.get("count") or 1)
    times = f" (x{count})" if count > 1 else ""
    head = f"{lc.event_time(event)}  {event.get('type', '')}  {event.get('reason', '')}"
    return f"{head}: {event.get('message', '')}{times}"


async def _status(kube: KubeClient, namespace: str, name: str) -> None:
    pl = await lc.get_pipeline(kube, namespace, name)
    rows = lc.vertex_rows(pl, await lc.list_vertices(kube, namespace, name))
    events = await lc.list_events(kube, namespace, name)
    status = pl.get("status") or {}
    drained = lc.drained_on_pause(pl)
    typer.echo(f"pipeline {namespace}/{name}")
    typer.echo(f"  desired phase:  {lc.desired_phase(pl)}")
    typer.echo(f"  current phase:  {lc.phase(pl)}")
    typer.echo(f"  message:        {status.get('message') or '-'}")
    typer.echo(f"  drainedOnPause: {'-' if drained is None else str(drained).lower()}")
    typer.echo(f"  pause marker:   {lc.pause_marker(pl) or '-'}")
    Console().print(_vertex_table("vertices", rows))
    typer.echo("events:")
    if not events:
        typer.echo("  (none)")
    for event in events:
        typer.echo(f"  {_event_line(event)}")


def pause_command(
    pipeline: PipelineArg,
    namespace: NamespaceOpt = "default",
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
    directory: DirOpt = None,
) -> None:
    """Pause PIPELINE (drain first). With --wait, show pending per buffer until Paused
    (default timeout: the pause grace period + 30 s).

    Exit codes: 0 success; 1 error (not found, API error); 3 timed out waiting.
    """
    _run(
        directory,
        lambda kube: _pause(kube, namespace, pipeline, wait, timeout, time.monotonic),
        _what(namespace, pipeline),
    )


def resume_command(
    pipeline: PipelineArg,
    strategy: Annotated[
        str, typer.Option("--strategy", help="fast: pre-pause replicas; slow: start at 1 and scale up")
    ] = "fast",
    namespace: NamespaceOpt = "default",
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
    directory: DirOpt = None,
) -> None:
    """Resume PIPELINE. With --wait, until every vertex is Running with all its pods ready
    (default timeout 120 s).

    Exit codes: 0 success; 1 error (not found, API error); 3 timed out waiting.
    """
    if strategy not in lc.STRATEGIES:
        raise typer.BadParameter(f"must be one of {', '.join(lc.STRATEGIES)}", param_hint="--strategy")
    _run(
        directory,
        lambda kube: _resume(kube, namespace, pipeline, strategy, wait, timeout, time.monotonic),
        _what(namespace, pipeline),
    )


def status_command(
    pipeline: PipelineArg, namespace: NamespaceOpt = "default", directory: DirOpt = None
) -> None:
    """Show PIPELINE's desired vs current phase, each vertex, and its recent lifecycle Events.

    Exit codes: 0 success; 1 error (not found, API error).
    """
    _run(directory, lambda kube: _status(kube, namespace, pipeline), _what(namespace, pipeline))


def register(app: typer.Typer) -> None:
    """Add `numaflux pause`, `resume` and `status`."""
    app.command("pause")(pause_command)
    app.command("resume")(resume_command)
    app.command("status")(status_command)
