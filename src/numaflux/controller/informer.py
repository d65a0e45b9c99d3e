"""Informers: list + watch one kind into a shared cache and tell handlers what changed.

A watch that ends normally is resumed from the last seen resourceVersion; a 410 Gone (the server no
longer has that history, e.g. after it restarted) or any error leads to a fresh list, after an
exponential back-off for errors. Handlers see (old, new): old None for an addition, new None for a
deletion; after a relist, objects that vanished are reported deleted and the rest as updates, so
level-triggered controllers catch up on whatever they missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from numaflux.controller.cache import IndexFunc, Store, object_key
from numaflux.controller.kube import JSON, Kind, KubeClient, is_status
from numaflux.controller.logs import kv

Handler = Callable[[JSON | None, JSON | None], None]

log = logging.getLogger(__name__)


class WatchExpired(Exception):
    """The server answered 410 Gone: the resourceVersion is too old to resume from."""


class Informer:
    """One kind (optionally one namespace) kept in `store`; start with `run()` as a task."""

    def __init__(
        self,
        kube: KubeClient,
        kind: Kind,
        namespace: str | None = None,
        *,
        watch_timeout: int = 300,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.kube = kube
        self.kind = kind
        self.namespace = namespace
        self.store = Store()
        self.synced = asyncio.Event()
        self.watch_timeout = watch_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lists = 0
        """How many times the informer listed (1 + relists); tests and logs read it."""
        self._handlers: list[Handler] = []
        self._rv = ""

    def add_handler(self, handler: Handler) -> None:
        """Call `handler(old, new)` on every change (and for every cached object already there)."""
        self._handlers.append(handler)
        for obj in self.store.all():
            handler(None, obj)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self.store.add_indexer(name, func)

    def get(self, key: str) -> JSON | None:
        """The cached object at `namespace/name` (shared: copy before modifying)."""
        return self.store.get(key)

    def record_write(self, obj: JSON) -> None:
        """Put an object this process just wrote into the cache, so that the next reconcile sees it even
        if the watch event has not arrived yet (a later event supersedes it)."""
        if obj.get("kind") == "Status" or not self.store.is_newer(obj):
            return
        old = self.store.upsert(obj)
        self._notify(old, obj)

    def record_delete(self, obj: JSON) -> None:
        """Drop an object this process just deleted (the DELETE returned no object)."""
        old = self.store.remove(obj)
        if old is not None:
            self._notify(old, None)

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                await self._list()
                failures = 0
                while True:
                    await self._watch()
            except asyncio.CancelledError:
                raise
            except WatchExpired:
                log.info(kv("watch expired, relisting", kind=self.kind.kind, resourceVersion=self._rv))
            except Exception as err:  # the loop must survive anything the server or network does
                if is_gone(err):
                    log.info(kv("watch expired, relisting", kind=self.kind.kind, resourceVersion=self._rv))
                    continue
                failures += 1
                delay = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1))
                log.warning(
                    kv("list/watch failed", kind=self.kind.kind, error=repr(err), retry_in=f"{delay:.2f}s")
                )
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        result = await self.kube.list(self.kind, self.namespace)
        self.lists += 1
        items = result.get("items") or []
        for item in items:
            item.setdefault("apiVersion", self.kind.api_version)
            item.setdefault("kind", self.kind.kind)
        self._rv = str((result.get("metadata") or {}).get("resourceVersion") or "")
        removed, changed = self.store.replace_all(items)
        for obj in removed:
            self._notify(obj, None)
        for old, new in changed:
            self._notify(old, new)
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.kube.watch(self.kind, self.namespace, self._rv, self.watch_timeout):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise WatchExpired(obj.get("message", ""))
                raise RuntimeError(f"watch error: {obj.get('message', obj)}")
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self._rv = str(rv)
            if kind == "BOOKMARK":
                continue
            self._apply(str(kind), obj)

    def _apply(self, kind: str, obj: JSON) -> None:
        if kind == "DELETED":
            old = self.store.remove(obj)
            if old is not None:
                self._notify(old, None)
            return
        if not self.store.is_newer(obj):
            return
        old = self.store.upsert(obj)
        self._notify(old, obj)

    def _notify(self, old: JSON | None, new: JSON | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception(kv("event handler failed", kind=self.kind.kind, object=_key(old, new)))


def _key(old: JSON | None, new: JSON | None) -> str:
    obj: Any = new if new is not None else old
    return object_key(obj) if obj is not None else ""


def is_gone(err: BaseException) -> bool:
    """A 410 from a list/watch call."""
    return is_status(err, 410)


class InformerFactory:
    """One shared informer per kind: every controller watching a kind uses the same cache."""

    def __init__(self, kube: KubeClient, namespace: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.informers: dict[Kind, Informer] = {}

    def informer(self, kind: Kind) -> Informer:
        found = self.informers.get(kind)
        if found is None:
            found = Informer(self.kube, kind, self.namespace)
            self.informers[kind] = found
        return found

    async def wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf in self.informers.values()))
