"""List requests: selectors, limit/continue pagination, and the response shapes (List, Table,
PartialObjectMetadataList)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from numaflux.apiserver.core import Api
from numaflux.apiserver.errors import bad_request, gone
from numaflux.apiserver.resources import ResourceType
from numaflux.apiserver.selectors import (
    FieldRequirement,
    Requirement,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)

JSON = dict[str, Any]


@dataclass(frozen=True)
class Filter:
    """Namespace, label and field selection of a list or watch."""

    namespace: str | None
    labels: list[Requirement]
    fields: list[FieldRequirement]

    @classmethod
    def parse(cls, rt: ResourceType, namespace: str | None, query: Mapping[str, str]) -> Filter:
        """From the labelSelector and fieldSelector query parameters."""
        return cls(
            namespace if rt.namespaced and namespace else None,
            parse_label_selector(query.get("labelSelector", "")),
            parse_field_selector(query.get("fieldSelector", ""), rt.field_allowed),
        )

    def matches(self, external: JSON) -> bool:
        """Whether an object (in the requested form) is selected."""
        meta = external.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return labels_match(self.labels, meta.get("labels")) and fields_match(self.fields, external)


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (binascii.Error, ValueError, KeyError, IndexError, TypeError) as err:
        raise bad_request(f"continue key is not valid: {err}") from err


def list_objects(
    api: Api, rt: ResourceType, namespace: str | None, query: Mapping[str, str]
) -> tuple[list[JSON], JSON]:
    """Selected objects (external form) and the ListMeta."""
    selection = Filter.parse(rt, namespace, query)
    try:
        limit = int(query.get("limit") or 0)
    except ValueError as err:
        raise bad_request(f"limit: invalid value {query.get('limit')!r}") from err
    list_rv = api.store.resource_version
    after = None
    token = query.get("continue")
    if token:
        list_rv, after = _decode_continue(token)
        if list_rv < api.store.compacted_rv:
            raise gone(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start "
                "a new list without the continue parameter, or use the continue token in this response to "
                "retrieve the remainder of the results."
            )
    stored = api.store.list(rt.rid, selection.namespace, after)
    selected = []
    for obj in stored:
        external = api.external(rt, obj) if rt.to_external is not None else obj
        if selection.matches(external):
            selected.append(external)
    meta: JSON = {"resourceVersion": str(list_rv)}
    if limit > 0 and len(selected) > limit:
        last = selected[limit - 1]["metadata"]
        meta["continue"] = _encode_continue(list_rv, (last.get("namespace") or "", last["name"]))
        meta["remainingItemCount"] = len(selected) - limit
        selected = selected[:limit]
    items = [api.external(rt, obj) if rt.to_external is None else obj for obj in selected]
    return items, meta


def list_body(rt: ResourceType, items: list[JSON], meta: JSON) -> JSON:
    """A {Kind}List."""
    return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": items}


def partial_list(items: list[JSON], meta: JSON) -> JSON:
    """A PartialObjectMetadataList."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "items": [
            {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": i["metadata"]}
            for i in items
        ],
    }
