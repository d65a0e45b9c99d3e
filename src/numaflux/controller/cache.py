"""The informer's cache: objects by `namespace/name`, with indexes (by owner uid, by label, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

JSON = dict[str, Any]
IndexFunc = Callable[[JSON], Iterable[str]]

INDEX_OWNER_UID = "owner-uid"
INDEX_NAMESPACE = "namespace"


def object_key(obj: JSON) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace, name) of a key."""
    if "/" in key:
        namespace, name = key.split("/", 1)
        return namespace, name
    return None, key


def controller_ref(obj: JSON) -> JSON | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def by_owner_uid(obj: JSON) -> list[str]:
    return [str(r["uid"]) for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if "uid" in r]


def by_namespace(obj: JSON) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def by_label(key: str) -> IndexFunc:
    """Index by the value of label `key` (objects without it are not indexed)."""

    def index(obj: JSON) -> list[str]:
        value = ((obj.get("metadata") or {}).get("labels") or {}).get(key)
        return [value] if value is not None else []

    return index


def _rv(obj: JSON) -> int | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


class Store:
    """Objects by key plus the indexes. Objects are shared: callers must copy before modifying."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, JSON] = {}
        self._indexers: dict[str, IndexFunc] = {INDEX_OWNER_UID: by_owner_uid, INDEX_NAMESPACE: by_namespace}
        self._indexers.update(indexers or {})
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        self._tombstones: dict[str, int] = {}

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index (also over the objects already cached)."""
        self._indexers[name] = func
        self._indexes[name] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)

    def get(self, key: str) -> JSON | None:
        return self._items.get(key)

    def all(self) -> list[JSON]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def by_index(self, index: str, value: str) -> list[JSON]:
        """Objects whose index function yields `value` (sorted by key)."""
        keys = sorted(self._indexes[index].get(value, ()))
        return [self._items[k] for k in keys]

    def is_newer(self, obj: JSON) -> bool:
        """False if the cache already holds (or deleted) a later resourceVersion of this object."""
        key, rv = object_key(obj), _rv(obj)
        if rv is None:
            return True
        current = self._items.get(key)
        current_rv = _rv(current) if current is not None else self._tombstones.get(key)
        return current_rv is None or rv >= current_rv

    def upsert(self, obj: JSON) -> JSON | None:
        """Insert or replace; returns the previous object."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._tombstones.pop(key, None)
        for name, func in self._indexers.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)
        return old

    def remove(self, obj: JSON) -> JSON | None:
        """Remove; remembers the resourceVersion so that a late, older event cannot bring it back."""
        key = object_key(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        rv = _rv(obj)
        if rv is not None:
            self._tombstones[key] = rv
        return old

    def replace_all(self, objs: Iterable[JSON]) -> tuple[list[JSON], list[tuple[JSON | None, JSON]]]:
        """Swap the contents (after a relist); returns (removed objects, [(old, new)] for present ones)."""
        fresh = {object_key(o): o for o in objs}
        previous = dict(self._items)
        removed = [obj for key, obj in previous.items() if key not in fresh]
        self._items.clear()
        self._tombstones.clear()
        self._indexes = {name: {} for name in self._indexers}
        changed: list[tuple[JSON | None, JSON]] = []
        for key, obj in fresh.items():
            changed.append((previous.get(key), obj))
            self.upsert(obj)
        return removed, changed

    def _unindex(self, key: str, obj: JSON) -> None:
        for name, func in self._indexers.items():
            for value in func(obj):
                bucket = self._indexes[name].get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del self._indexes[name][value]
