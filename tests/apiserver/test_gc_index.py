"""The garbage collector's indexes: a pass finds what to collect without scanning every stored object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from numaflux.apiserver.core import Api, DeleteOptions
from numaflux.apiserver.gc import GarbageCollector
from numaflux.apiserver.resources import Registry
from numaflux.apiserver.store import Store

JSON = dict[str, Any]


def setup(tmp_path: Path) -> tuple[Store, Api, Any]:
    store = Store(tmp_path / "db")
    api = Api(store, Registry())
    api.bootstrap()
    config_maps = api.registry.lookup("", "v1", "configmaps")
    assert config_maps is not None
    return store, api, config_maps


def ref(owner: JSON, **extra: Any) -> JSON:
    meta = owner["metadata"]
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": meta["name"], "uid": meta["uid"], **extra}


def names(store: Store) -> list[str]:
    return [o["metadata"]["name"] for o in store.list("/configmaps", "default")]


def test_a_pass_collects_children_of_owners_gone_before_and_after_the_collector_started(
    tmp_path: Path,
) -> None:
    store, api, cms = setup(tmp_path)

    def create(name: str, *owners: JSON) -> JSON:
        meta: JSON = {"name": name}
        if owners:
            meta["ownerReferences"] = [ref(o) for o in owners]
        return api.create(cms, "default", {"metadata": meta})

    a, b = create("a"), create("b")
    create("a-child", a)
    b_child = create("b-child", b)
    create("shared", a, b)
    lost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "lost", "uid": "no-such-uid"}
    api.create(cms, "default", {"metadata": {"name": "orphan", "ownerReferences": [lost]}})
    api.delete(cms, "default", "a", DeleteOptions())  # before the collector exists: found from the store

    collector = GarbageCollector(api)
    collector.collect()
    assert names(store) == ["b", "b-child", "shared"]  # "shared" keeps its live owner b

    # b-child is no longer b's: an update the index follows; then b goes and takes "shared" with it
    updated = {
        **b_child,
        "metadata": {k: v for k, v in b_child["metadata"].items() if k != "ownerReferences"},
    }
    api.update(cms, "default", "b-child", updated)
    api.delete(cms, "default", "b", DeleteOptions())
    collector.collect()
    assert names(store) == ["b-child"]
    collector.collect()  # nothing left to do
    assert names(store) == ["b-child"]
    store.close()


def test_a_foreground_deletion_ends_in_one_pass_once_its_blocking_children_are_collected(
    tmp_path: Path,
) -> None:
    store, api, cms = setup(tmp_path)
    owner = api.create(cms, "default", {"metadata": {"name": "owner"}})
    child = {"metadata": {"name": "child", "ownerReferences": [ref(owner, blockOwnerDeletion=True)]}}
    api.create(cms, "default", child)
    api.create(cms, "default", {"metadata": {"name": "bystander"}})
    collector = GarbageCollector(api)
    api.delete(cms, "default", "owner", DeleteOptions(propagation="Foreground"))
    assert names(store) == ["bystander", "child", "owner"]  # the owner waits for its blocking child
    collector.collect()
    assert names(store) == ["bystander"]
    store.close()
