"""Garbage collection through ownerReferences, plus the cleanup of terminating namespaces and CRDs.

A pass (run after relevant writes, and every `interval` seconds) does, from the store's current state:
- dependents whose owners (matched by uid) are all gone are deleted (background propagation);
- dependents of an owner being deleted in the foreground (finalizer `foregroundDeletion`) are deleted
  with foreground propagation; the owner's finalizer is removed once no dependent with
  `blockOwnerDeletion: true` remains;
- dependents of an owner being deleted with the `orphan` finalizer lose that ownerReference; then the
  finalizer is removed;
- a terminating namespace has its contents deleted, then its `kubernetes` finalizer removed;
- a deleted CRD has its custom objects deleted, then its cleanup finalizer removed;
- once a minute, Events last seen more than an hour ago are deleted (the Kubernetes event TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from numaflux.apiserver import crd
from numaflux.apiserver.core import FOREGROUND, NAMESPACE_FINALIZER, ORPHAN, Api, DeleteOptions
from numaflux.apiserver.errors import ApiError
from numaflux.apiserver.resources import CRD_RID, NAMESPACE_RID
from numaflux.apiserver.store import Event
from numaflux.jsondata import clone

JSON = dict[str, Any]
EVENT_RID = "/events"
EVENT_TTL = dt.timedelta(hours=1)
log = logging.getLogger(__name__)


class GarbageCollector:
    """Runs collection passes on the event loop."""

    def __init__(self, api: Api, interval: float = 1.0, event_ttl: dt.timedelta = EVENT_TTL) -> None:
        self.api = api
        self.interval = interval
        self.event_ttl = event_ttl
        self._next_expiry = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        api.store.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED" or meta.get("deletionTimestamp"):
            self._wake.set()
            return
        # A new or changed dependent needs a pass only when one of its owners is gone or going.
        for ref in meta.get("ownerReferences") or []:
            owner = self.api.store.by_uid(ref.get("uid", ""))
            if owner is None or owner[1]["metadata"].get("deletionTimestamp"):
                self._wake.set()
                return

    def start(self) -> None:
        """Begin collecting in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="apiserver-gc")

    async def stop(self) -> None:
        """Stop collecting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            # Let a burst of writes land before scanning.
            await asyncio.sleep(0.02)
            try:
                self.collect()
                if time.monotonic() >= self._next_expiry:
                    self._next_expiry = time.monotonic() + 60.0
                    self.expire_events(self.api.clock())
            except Exception:
                log.exception("garbage collection pass failed")

    # ----- one pass -----
    def collect(self) -> None:
        """One full pass over the store."""
        store = self.api.store
        dependents: dict[str, list[tuple[str, JSON]]] = {}
        for rid in list(store.resources()):
            for obj in store.list(rid):
                for ref in obj["metadata"].get("ownerReferences") or []:
                    dependents.setdefault(ref.get("uid", ""), []).append((rid, obj))
        seen: set[str] = set()
        for owner_uid, children in dependents.items():
            owner = store.by_uid(owner_uid)
            for rid, child in children:
                uid = child["metadata"].get("uid", "")
                if uid in seen:
                    continue
                self._collect_child(rid, child, owner)
                seen.add(uid)
        for rid in list(store.resources()):
            for obj in store.list(rid):
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    continue
                finalizers = meta.get("finalizers") or []
                if FOREGROUND in finalizers and not self._blocking(meta["uid"], dependents):
                    self._drop_finalizer(rid, obj, FOREGROUND)
                elif ORPHAN in finalizers:
                    self._orphan(meta["uid"], dependents)
                    self._drop_finalizer(rid, obj, ORPHAN)
                if rid == NAMESPACE_RID:
                    self._clean_namespace(obj)
                elif rid == CRD_RID:
                    self._clean_crd(obj)

    def expire_events(self, now: dt.datetime) -> int:
        """Delete core Events last seen more than event_ttl before now (Kubernetes keeps them 1 h)."""
        expired = 0
        for event in self.api.store.list(EVENT_RID):
            seen = (
                event.get("lastTimestamp")
                or event.get("eventTime")
                or event["metadata"].get("creationTimestamp")
            )
            if not seen:
                continue
            try:
                when = dt.datetime.fromisoformat(str(seen).replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            if now - when > self.event_ttl:
                self._delete(EVENT_RID, event, "Background")
                expired += 1
        return expired

    def _collect_child(self, rid: str, child: JSON, owner: tuple[str, JSON] | None) -> None:
        refs = child["metadata"].get("ownerReferences") or []
        alive = [self.api.store.by_uid(ref.get("uid", "")) for ref in refs]
        live = [found for found in alive if found is not None]
        if child["metadata"].get("deletionTimestamp"):
            return
        if not live:
            self._delete(rid, child, "Background")
            return
        foreground = [
            o
            for _, o in live
            if o["metadata"].get("deletionTimestamp")
            and FOREGROUND in (o["metadata"].get("finalizers") or [])
        ]
        if foreground and len(foreground) == len(live):
            self._delete(rid, child, "Foreground")

    def _blocking(self, owner_uid: str, dependents: dict[str, list[tuple[str, JSON]]]) -> bool:
        for _, child in dependents.get(owner_uid, []):
            current = self.api.store.by_uid(child["metadata"].get("uid", ""))
            if current is None:
                continue
            for ref in current[1]["metadata"].get("ownerReferences") or []:
                if ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion"):
                    return True
        return False

    def _orphan(self, owner_uid: str, dependents: dict[str, list[tuple[str, JSON]]]) -> None:
        for rid, child in dependents.get(owner_uid, []):
            current = self.api.store.by_uid(child["metadata"].get("uid", ""))
            if current is None:
                continue
            obj = clone(current[1])
            obj["metadata"]["ownerReferences"] = [
                r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid
            ]
            if not obj["metadata"]["ownerReferences"]:
                del obj["metadata"]["ownerReferences"]
            self.api.store.update(rid, obj, current[1])

    def _drop_finalizer(self, rid: str, obj: JSON, finalizer: str) -> None:
        rt = self.api.registry.for_rid(rid)
        current = self.api.store.get(rid, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if rt is None or current is None:
            return
        new = self.api.external(rt, current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        self.api.update(rt, new["metadata"].get("namespace", ""), new["metadata"]["name"], new)

    def _delete(self, rid: str, obj: JSON, propagation: str) -> None:
        rt = self.api.registry.for_rid(rid)
        if rt is None:
            return
        meta = obj["metadata"]
        try:
            self.api.delete(
                rt,
                meta.get("namespace", ""),
                meta["name"],
                DeleteOptions(propagation=propagation, precondition_uid=meta.get("uid")),
            )
        except ApiError as err:
            # Gone already, or replaced by a new object of the same name: nothing left to collect.
            if err.code not in (404, 409):
                raise
            log.debug(
                "garbage collection of %s %s/%s skipped: %s",
                rid,
                meta.get("namespace", ""),
                meta["name"],
                err,
            )

    def _clean_namespace(self, ns: JSON) -> None:
        name = ns["metadata"]["name"]
        remaining = 0
        for rid in list(self.api.store.resources()):
            rt = self.api.registry.for_rid(rid)
            if rt is None or not rt.namespaced:
                continue
            for obj in self.api.store.list(rid, name):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(rid, obj, "Background")
        if remaining == 0 and NAMESPACE_FINALIZER in ((ns.get("spec") or {}).get("finalizers") or []):
            current = self.api.store.get(NAMESPACE_RID, "", name)
            rt = self.api.registry.for_rid(NAMESPACE_RID)
            if current is None or rt is None:
                return
            updated = clone(current)
            updated["spec"]["finalizers"] = [
                f for f in updated["spec"]["finalizers"] if f != NAMESPACE_FINALIZER
            ]
            if not updated["metadata"].get("finalizers"):
                self.api.store.delete(NAMESPACE_RID, updated)
            else:
                self.api.store.update(NAMESPACE_RID, updated, current)

    def _clean_crd(self, definition: JSON) -> None:
        if crd.CLEANUP_FINALIZER not in (definition["metadata"].get("finalizers") or []):
            return
        spec = definition.get("spec") or {}
        rid = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
        objects = self.api.store.list(rid)
        for obj in objects:
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete(rid, obj, "Background")
        if not self.api.store.list(rid):
            self._drop_finalizer(CRD_RID, definition, crd.CLEANUP_FINALIZER)
