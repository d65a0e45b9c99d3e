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
from collections.abc import Iterable
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


Key = tuple[str, str, str]
"""(storage id, namespace, name) of a stored object."""


def _key(rid: str, obj: JSON) -> Key:
    meta = obj["metadata"]
    return rid, meta.get("namespace") or "", meta["name"]


class GarbageCollector:
    """Runs collection passes on the event loop.

    A pass looks only at what can need collecting, from two indexes kept up to date by the store's
    events: the dependents of each owner uid, and the objects being deleted. A pass therefore costs
    about one lookup per owner, not one per stored object."""

    def __init__(self, api: Api, interval: float = 1.0, event_ttl: dt.timedelta = EVENT_TTL) -> None:
        self.api = api
        self.interval = interval
        self.event_ttl = event_ttl
        self._next_expiry = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dependents: dict[str, dict[Key, None]] = {}  # owner uid -> its dependents, in write order
        self._owners_of: dict[Key, tuple[str, ...]] = {}  # dependent -> the owner uids it refers to
        self._terminating: dict[Key, None] = {}  # objects with a deletionTimestamp, in write order
        for rid in list(api.store.resources()):
            for obj in api.store.list(rid):
                self._index(rid, obj, deleted=False)
        api.store.add_listener(self._on_event)

    def _index(self, rid: str, obj: JSON, *, deleted: bool) -> None:
        key = _key(rid, obj)
        meta = obj["metadata"]
        uids = () if deleted else tuple(ref.get("uid", "") for ref in meta.get("ownerReferences") or [])
        before = self._owners_of.get(key, ())
        if uids != before:
            for uid in before:
                dependents = self._dependents.get(uid)
                if dependents is not None:
                    dependents.pop(key, None)
                    if not dependents:
                        del self._dependents[uid]
            for uid in uids:
                self._dependents.setdefault(uid, {})[key] = None
            if uids:
                self._owners_of[key] = uids
            else:
                self._owners_of.pop(key, None)
        if not deleted and meta.get("deletionTimestamp"):
            self._terminating[key] = None
        else:
            self._terminating.pop(key, None)

    def _on_event(self, event: Event) -> None:
        self._index(event.rid, event.obj, deleted=event.type == "DELETED")
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

    def _current(self, keys: Iterable[Key]) -> list[tuple[str, JSON]]:
        """(storage id, object) of each key still stored, read before the caller changes anything."""
        out = []
        for rid, ns, name in keys:
            obj = self.api.store.get(rid, ns, name)
            if obj is not None:
                out.append((rid, obj))
        return out

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
        """One pass: dependents whose owners are gone or going, then the objects being deleted."""
        store = self.api.store
        seen: set[str] = set()
        for owner_uid, keys in list(self._dependents.items()):
            owner = store.by_uid(owner_uid)
            if owner is not None and not owner[1]["metadata"].get("deletionTimestamp"):
                continue  # a live owner keeps each of these children: nothing to collect through it
            for rid, child in self._current(keys):
                uid = child["metadata"].get("uid", "")
                if uid in seen:
                    continue
                self._collect_child(rid, child, owner)
                seen.add(uid)
        while self._finish_terminating():
            pass  # a finalizer dropped may have unblocked an owner waiting in the foreground

    def _finish_terminating(self) -> bool:
        """Objects being deleted: drop the foreground and orphan finalizers that are done, clean up
        namespaces and CRDs. Returns whether a finalizer was dropped."""
        dropped = False
        for rid, obj in self._current(self._terminating):
            meta = obj["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            finalizers = meta.get("finalizers") or []
            if FOREGROUND in finalizers and not self._blocking(meta["uid"]):
                dropped = self._drop_finalizer(rid, obj, FOREGROUND) or dropped
            elif ORPHAN in finalizers:
                self._orphan(meta["uid"])
                dropped = self._drop_finalizer(rid, obj, ORPHAN) or dropped
            if rid == NAMESPACE_RID:
                self._clean_namespace(obj)
            elif rid == CRD_RID:
                self._clean_crd(obj)
        return dropped

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
        """Delete `child` if all its owners are gone (background) or being deleted in the foreground."""
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

    def _blocking(self, owner_uid: str) -> bool:
        for _, child in self._current(self._dependents.get(owner_uid, ())):
            for ref in child["metadata"].get("ownerReferences") or []:
                if ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion"):
                    return True
        return False

    def _orphan(self, owner_uid: str) -> None:
        for rid, child in self._current(self._dependents.get(owner_uid, ())):
            obj = clone(child)
            obj["metadata"]["ownerReferences"] = [
                r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid
            ]
            if not obj["metadata"]["ownerReferences"]:
                del obj["metadata"]["ownerReferences"]
            self.api.store.update(rid, obj, child)

    def _drop_finalizer(self, rid: str, obj: JSON, finalizer: str) -> bool:
        """Remove `finalizer` from the stored object; whether it was there to remove."""
        rt = self.api.registry.for_rid(rid)
        current = self.api.store.get(rid, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if rt is None or current is None or finalizer not in (current["metadata"].get("finalizers") or []):
            return False
        new = self.api.external(rt, current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        self.api.update(rt, new["metadata"].get("namespace", ""), new["metadata"]["name"], new)
        return True

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
