"""Controllers: a work queue fed by informers, drained by workers that call a Reconciler.

The contract (controller-runtime's): a reconcile gets only a key (`namespace/name`), reads the current
state from the informer caches and makes the world match the spec. It must be safe to run twice and
to be cut off at any line. Outcome:

- returns `Result()` → success, the key's back-off is forgotten;
- returns `Result(requeue_after=s)` → success, and the key is reconciled again after `s` seconds;
- raises → logged with the key and retried with exponential back-off (the Result is lost);
- raises `TerminalError` → logged, not retried until the object changes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from kubernetes_asyncio.client.rest import ApiException

from numaflux.controller.cache import controller_ref, object_key
from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON, Kind
from numaflux.controller.logs import kv
from numaflux.controller.workqueue import WorkQueue

log = logging.getLogger(__name__)
# One DEBUG line per reconcile with its duration; off unless enabled (`numaflux controller
# --log-reconcile-times`), which is how the control-plane benchmark measures reconcile latency.
timing = logging.getLogger("numaflux.controller.timing")


@dataclass(frozen=True)
class Result:
    """What a successful reconcile asks for: nothing, or another pass after `requeue_after` seconds."""

    requeue_after: float | None = None


class TerminalError(Exception):
    """A failure retrying cannot fix (e.g. an invalid spec); the key waits for the next change."""


class Reconciler(Protocol):
    """Makes the object at `key` (`namespace/name`) match its spec."""

    async def reconcile(self, key: str) -> Result: ...


Mapper = Callable[[JSON], Iterable[str]]
Predicate = Callable[[JSON | None, JSON | None], bool]
"""Whether a change (old, new) is worth a reconcile; old is None for an addition, new for a deletion."""


def spec_or_metadata_changed(old: JSON | None, new: JSON | None) -> bool:
    """Additions, deletions and changes of anything but `status` (generation, labels, annotations,
    finalizers, deletionTimestamp): a controller's own status writes do not trigger it again."""
    if old is None or new is None:
        return True

    def relevant(obj: JSON) -> tuple[object, ...]:
        meta = obj.get("metadata") or {}
        return (
            meta.get("generation"),
            meta.get("labels"),
            meta.get("annotations"),
            meta.get("finalizers"),
            meta.get("deletionTimestamp"),
            meta.get("uid"),
            obj.get("spec"),
        )

    return relevant(old) != relevant(new)


def owner_mapper(owner: Kind) -> Mapper:
    """Maps a child to the key of its controlling owner of kind `owner` (same namespace)."""

    def keys(obj: JSON) -> list[str]:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != owner.kind:
            return []
        if str(ref.get("apiVersion", "")).split("/")[0] != owner.api_version.split("/")[0]:
            return []
        namespace = (obj.get("metadata") or {}).get("namespace")
        return [f"{namespace}/{ref['name']}" if namespace else str(ref["name"])]

    return keys


class Controller:
    """One reconciler with its queue and watches; run by the Manager while it leads."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        workers: int = 1,
        queue: WorkQueue | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ):
        self.name = name
        self.reconciler = reconciler
        self.workers = workers
        self.on_stop = on_stop
        self.queue = queue if queue is not None else WorkQueue()
        self.reconciles = 0
        self._active = False
        self._watches: list[tuple[Informer, Mapper]] = []

    def watch_primary(self, informer: Informer, predicate: Predicate | None = None) -> None:
        """Reconcile every object of the informer's kind when it changes (or disappears); with
        `predicate`, only changes it accepts (e.g. `spec_or_metadata_changed`)."""
        self.watch(informer, lambda obj: [object_key(obj)], predicate)

    def watch_owned(self, informer: Informer, owner: Kind) -> None:
        """Reconcile the controlling owner (of kind `owner`) of an object that changes."""
        self.watch(informer, owner_mapper(owner))

    def watch(self, informer: Informer, mapper: Mapper, predicate: Predicate | None = None) -> None:
        """Reconcile the keys `mapper` gives for each changed object (old and new state)."""

        def handler(old: JSON | None, new: JSON | None) -> None:
            if not self._active:
                return
            if predicate is not None and not predicate(old, new):
                return
            keys: set[str] = set()
            for obj in (old, new):
                if obj is not None:
                    keys.update(mapper(obj))
            for key in keys:
                self.queue.add(key)

        self._watches.append((informer, mapper))
        informer.add_handler(handler)

    async def run(self) -> None:
        """Enqueue everything cached, then reconcile until `stop()`; in-flight reconciles finish first."""
        if self.queue.shutting_down:  # a previous term as leader ended; start with a fresh queue
            self.queue = WorkQueue(self.queue.clock, self.queue.backoff)
        self._active = True
        for informer, mapper in self._watches:
            for obj in informer.store.all():
                for key in mapper(obj):
                    self.queue.add(key)
        log.info(kv("controller started", controller=self.name, workers=self.workers))
        try:
            await asyncio.gather(*(self._worker() for _ in range(self.workers)))
        finally:
            if self.on_stop is not None:  # work the reconciler started beside its reconciles
                await self.on_stop()
        log.info(kv("controller stopped", controller=self.name))

    def stop(self) -> None:
        """Hand out no more keys; workers return once their current reconcile is done."""
        self._active = False
        self.queue.shutdown()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> None:
        """One reconcile of `key` and what its outcome means for the queue."""
        self.reconciles += 1
        started = time.perf_counter()
        try:
            result = await self.reconciler.reconcile(key)
        except asyncio.CancelledError:
            raise
        except TerminalError as err:
            self.queue.forget(key)
            log.error(kv("reconcile failed terminally", controller=self.name, key=key, error=str(err)))
            return
        except Exception as err:
            retries = self.queue.backoff.retries(key)
            log.error(
                kv(
                    "reconcile failed",
                    controller=self.name,
                    key=key,
                    error=str(err) or repr(err),
                    retries=retries,
                ),
                exc_info=not isinstance(err, ApiException),
            )
            self.queue.add_rate_limited(key)
            return
        if timing.isEnabledFor(logging.DEBUG):
            seconds = time.perf_counter() - started
            timing.debug(kv("reconciled", controller=self.name, key=key, seconds=f"{seconds:.6f}"))
        self.queue.forget(key)
        if result.requeue_after is not None and result.requeue_after > 0:
            self.queue.add_after(key, result.requeue_after)
