"""Object storage: SQLite (WAL) on disk, every object also held in memory, one global resourceVersion.

Every write runs synchronously on the event loop inside one SQLite transaction that stores the object,
appends the watch event and advances the persisted counter, so a write is atomic with respect to all
other request handling and the resourceVersion never goes backwards or repeats across restarts.
The most recent `window` events are kept (in memory and in the `events` table) so watches can resume
from a resourceVersion, also after a restart; older ones are compacted and a watch or continue token
from before the compaction point gets 410 Gone.

A resource is identified by its storage id, `"{group}/{plural}"` (`"/pods"` for the core group).
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import json
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numaflux.apiserver.errors import gone

JSON = dict[str, Any]
ObjectKey = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    rid TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (rid, ns, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, type TEXT NOT NULL, rid TEXT NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, carrying the object as written (and the prior state)."""

    rv: int
    type: str
    rid: str
    obj: JSON
    prev: JSON | None = None


@dataclass(eq=False)
class Subscription:
    """A watcher's queue of events for one storage id; close() detaches it."""

    rid: str
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _store: Store | None = None

    def close(self) -> None:
        """Stop receiving events."""
        if self._store is not None:
            self._store._subscribers.get(self.rid, set()).discard(self)
            self._store = None


def _key(obj: JSON) -> ObjectKey:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


class Store:
    """The single source of truth for all API objects."""

    def __init__(self, path: Path, window: int = 20000) -> None:
        self.path = path
        self.window = window
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._objects: dict[str, dict[ObjectKey, JSON]] = {}
        self._uids: dict[str, tuple[str, ObjectKey]] = {}
        self._subscribers: dict[str, set[Subscription]] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._events: deque[Event] = deque()
        self._event_rvs: deque[int] = deque()
        self._rv = self._meta("rv")
        self._compacted = self._meta("compacted")
        self._writes_since_prune = 0
        for rid, data in self._db.execute("SELECT rid, data FROM objects"):
            obj = json.loads(data)
            self._put_memory(rid, obj)
        rows = self._db.execute(
            "SELECT rv, type, rid, data FROM events WHERE rv > ? ORDER BY rv", (self._compacted,)
        )
        for rv, kind, rid, data in rows:
            self._remember(Event(rv, kind, rid, json.loads(data)))

    def close(self) -> None:
        """Close the database (checkpointing the WAL)."""
        self._db.close()

    # ----- reading -----
    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        return self._rv

    @property
    def compacted_rv(self) -> int:
        """Watches and continue tokens must start at or after this resourceVersion."""
        return self._compacted

    def get(self, rid: str, namespace: str, name: str) -> JSON | None:
        """The stored object (do not mutate it), or None."""
        return self._objects.get(rid, {}).get((namespace, name))

    def by_uid(self, uid: str) -> tuple[str, JSON] | None:
        """(storage id, object) of the object with this uid, if it exists."""
        found = self._uids.get(uid)
        if found is None:
            return None
        rid, key = found
        obj = self._objects.get(rid, {}).get(key)
        return (rid, obj) if obj is not None else None

    def list(self, rid: str, namespace: str | None = None, after: ObjectKey | None = None) -> list[JSON]:
        """Objects of one resource sorted by (namespace, name), optionally in one namespace / after a key."""
        bucket = self._objects.get(rid, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        if after is not None:
            keys = keys[bisect.bisect_right(keys, after) :]
        return [bucket[k] for k in keys]

    def resources(self) -> Iterator[str]:
        """Storage ids that hold at least one object."""
        return iter([rid for rid, bucket in self._objects.items() if bucket])

    def events_after(self, rv: int, rid: str) -> builtins.list[Event]:
        """Retained events of one resource newer than rv; 410 Gone when rv predates the window."""
        if rv < self._compacted:
            raise gone(f"too old resource version: {rv} ({self._compacted})")
        start = bisect.bisect_right(self._event_rvs, rv)
        return [e for e in list(self._events)[start:] if e.rid == rid]

    def subscribe(self, rid: str) -> Subscription:
        """Queue receiving every future event of one resource."""
        sub = Subscription(rid, _store=self)
        self._subscribers.setdefault(rid, set()).add(sub)
        return sub

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call listener synchronously after every committed write (used by the garbage collector)."""
        self._listeners.append(listener)

    # ----- writing -----
    def create(self, rid: str, obj: JSON) -> JSON:
        """Store a new object, assigning its resourceVersion."""
        return self._write("ADDED", rid, obj, None)

    def update(self, rid: str, obj: JSON, prev: JSON) -> JSON:
        """Replace an object, assigning a new resourceVersion."""
        return self._write("MODIFIED", rid, obj, prev)

    def delete(self, rid: str, obj: JSON) -> JSON:
        """Remove an object; the DELETED event carries it with a fresh resourceVersion."""
        return self._write("DELETED", rid, obj, obj)

    def _write(self, kind: str, rid: str, obj: JSON, prev: JSON | None) -> JSON:
        rv = self._rv + 1
        obj["metadata"]["resourceVersion"] = str(rv)
        ns, name = _key(obj)
        data = json.dumps(obj, separators=(",", ":"))
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if kind == "DELETED":
                db.execute("DELETE FROM objects WHERE rid=? AND ns=? AND name=?", (rid, ns, name))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO objects (rid, ns, name, rv, data) VALUES (?,?,?,?,?)",
                    (rid, ns, name, rv, data),
                )
            db.execute("INSERT INTO events (rv, type, rid, data) VALUES (?,?,?,?)", (rv, kind, rid, data))
            db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('rv', ?)", (rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._rv = rv
        if kind == "DELETED":
            self._drop_memory(rid, obj)
        else:
            self._put_memory(rid, obj)
        event = Event(rv, kind, rid, obj, prev)
        self._remember(event)
        for sub in self._subscribers.get(rid, ()):
            sub.queue.put_nowait(event)
        for listener in self._listeners:
            listener(event)
        self._writes_since_prune += 1
        if self._writes_since_prune >= 1000:
            self._prune()
        return obj

    def _put_memory(self, rid: str, obj: JSON) -> None:
        key = _key(obj)
        self._objects.setdefault(rid, {})[key] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = (rid, key)

    def _drop_memory(self, rid: str, obj: JSON) -> None:
        self._objects.get(rid, {}).pop(_key(obj), None)
        self._uids.pop(obj["metadata"].get("uid", ""), None)

    def _remember(self, event: Event) -> None:
        self._events.append(event)
        self._event_rvs.append(event.rv)
        while len(self._events) > self.window:
            dropped = self._events.popleft()
            self._event_rvs.popleft()
            self._compacted = dropped.rv

    def _prune(self) -> None:
        self._writes_since_prune = 0
        self._db.execute("DELETE FROM events WHERE rv <= ?", (self._compacted,))
        self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted', ?)", (self._compacted,))

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return int(row[0]) if row else 0
