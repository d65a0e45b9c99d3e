"""Watch streams: newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).

resourceVersion "" or "0" (or sendInitialEvents=true) starts with synthetic ADDED events for the
current state; an explicit resourceVersion replays the retained events after it, or answers one
ERROR event carrying a 410 Expired Status when it is older than the retained window. With a label or
field selector, an object that stops matching is reported as DELETED and one that starts matching as
ADDED, as the Kubernetes watch cache does. Bookmarks (allowWatchBookmarks=true) are sent every
`bookmark_interval` seconds and, with sendInitialEvents, once after the initial events with the
`k8s.io/initial-events-end` annotation. Events that are queued for a watcher together (and initial
events) go out in one write: one chunk and one system call instead of one per event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from numaflux.apiserver.core import Api
from numaflux.apiserver.errors import ApiError, bad_request, flag
from numaflux.apiserver.listing import Filter
from numaflux.apiserver.resources import ResourceType
from numaflux.apiserver.store import Event
from numaflux.apiserver.tables import table

JSON = dict[str, Any]

DEFAULT_TIMEOUT = 1800.0
_POLL = 1.0
_BATCH = 256
"""At most this many events (or initial objects) per write."""


def _view(api: Api, rt: ResourceType, obj: JSON) -> JSON:
    """The object as this resource version shows it; shares structure with the stored object (read-only)."""
    if rt.to_external is not None:
        return api.external(rt, obj)
    if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
        return obj
    return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}


def _selected(selection: Filter, api: Api, rt: ResourceType, obj: JSON | None) -> JSON | None:
    if obj is None:
        return None
    view = _view(api, rt, obj)
    return view if selection.matches(view) else None


def translate(event: Event, selection: Filter, api: Api, rt: ResourceType) -> tuple[str, JSON] | None:
    """The event as this watcher sees it (type may change under a selector), or None to skip it.

    The returned object may share structure with the store and must not be modified.
    """
    now = _selected(selection, api, rt, event.obj)
    if event.type == "ADDED":
        return ("ADDED", now) if now is not None else None
    if event.type == "DELETED":
        return ("DELETED", now) if now is not None else None
    before = _selected(selection, api, rt, event.prev) if event.prev is not None else now
    if now is not None and before is not None:
        return "MODIFIED", now
    if now is not None:
        return "ADDED", now
    if before is not None:
        # The object left the selection: report its new state as a deletion from the watcher's view.
        return "DELETED", _view(api, rt, event.obj)
    return None


class _LineCache:
    """Encoded watch lines shared by the watchers of one resource version (same event, same form)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.lines: dict[tuple[int, str, str], bytes] = {}

    def line(self, key: tuple[int, str, str], build: Callable[[], bytes]) -> bytes:
        found = self.lines.get(key)
        if found is None:
            found = build()
            if len(self.lines) >= self.size:
                self.lines.pop(next(iter(self.lines)))
            self.lines[key] = found
        return found


_CACHE = _LineCache()


def _encode(kind: str, obj: JSON) -> bytes:
    return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> JSON:
    meta: JSON = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}


async def serve_watch(
    request: web.Request,
    api: Api,
    rt: ResourceType,
    namespace: str | None,
    query: Mapping[str, str],
    render: Callable[[JSON], JSON] | None,
    bookmark_interval: float = 10.0,
) -> web.StreamResponse:
    """Stream a watch until timeoutSeconds, client disconnect or server shutdown."""
    selection = Filter.parse(rt, namespace, query)
    rv_param = query.get("resourceVersion", "")
    send_initial = flag(query.get("sendInitialEvents"))
    bookmarks = flag(query.get("allowWatchBookmarks"))
    try:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_TIMEOUT)
    except ValueError as err:
        raise bad_request(f"timeoutSeconds: invalid value {query.get('timeoutSeconds')!r}") from err
    store = api.store
    # Snapshot and subscription happen without yielding to the loop, so no event falls between them.
    sub = store.subscribe(rt.rid)
    error: ApiError | None = None
    initial: list[JSON] = []
    backlog: list[Event] = []
    start_rv = store.resource_version
    try:
        if send_initial or rv_param in ("", "0"):
            for obj in store.list(rt.rid, selection.namespace):
                view = _view(api, rt, obj)
                if selection.matches(view):
                    initial.append(view)
        else:
            try:
                start_rv = int(rv_param)
            except ValueError as err:
                raise bad_request(f"resourceVersion: invalid value {rv_param!r}") from err
            if start_rv > store.resource_version:
                # A resourceVersion this store never handed out (e.g. from a wiped data directory).
                error = ApiError(
                    504,
                    "Timeout",
                    f"Too large resource version: {start_rv}, current: {store.resource_version}",
                    causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    retry_after=1,
                )
            else:
                try:
                    backlog = store.events_after(start_rv, rt.rid)
                except ApiError as err:
                    error = err
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(kind: str, obj: JSON) -> None:
            await response.write(_encode(kind, obj))

        def line(event: Event) -> bytes | None:
            seen = translate(event, selection, api, rt)
            if seen is None:
                return None
            kind, obj = seen
            if render is None:
                return _CACHE.line((event.rv, rt.api_version, kind), lambda: _encode(kind, obj))
            return _encode(kind, render(obj))

        async def send_events(events: list[Event]) -> None:
            """One write (one chunk, one system call) for the lines of several events."""
            lines = [found for found in map(line, events) if found is not None]
            if lines:
                await response.write(b"".join(lines))

        if error is not None:
            await send("ERROR", error.status())
            return response
        for start in range(0, len(initial), _BATCH):
            batch = initial[start : start + _BATCH]
            await response.write(
                b"".join(_encode("ADDED", obj if render is None else render(obj)) for obj in batch)
            )
        if send_initial and bookmarks:
            await send("BOOKMARK", _bookmark(rt, start_rv, initial_end=True))
        for start in range(0, len(backlog), _BATCH):
            await send_events(backlog[start : start + _BATCH])
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + bookmark_interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            wait = min(deadline - now, _POLL, max(0.0, next_bookmark - now) if bookmarks else _POLL)
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=wait)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break
                if bookmarks and time.monotonic() >= next_bookmark:
                    await send("BOOKMARK", _bookmark(rt, store.resource_version))
                    next_bookmark = time.monotonic() + bookmark_interval
                continue
            # Writes already under way commit in this loop iteration: let them, then send all at once.
            await asyncio.sleep(0)
            events = [event]
            while len(events) < _BATCH and not sub.queue.empty():
                events.append(sub.queue.get_nowait())
            await send_events(events)
        return response
    finally:
        sub.close()


def table_renderer(rt: ResourceType, include: str, clock: Callable[[], Any]) -> Callable[[JSON], JSON]:
    """Render each watch event's object as a one-row Table (kubectl get -w)."""

    def render(obj: JSON) -> JSON:
        return table(rt, [obj], clock(), include=include)

    return render
