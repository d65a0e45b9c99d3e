"""Schemas of the built-in kinds, derived from kubernetes_asyncio's generated models (their
`openapi_types` and `attribute_map`, plus property docstrings as descriptions).

They serve two purposes: unknown fields of built-in objects are pruned (or, with fieldValidation=Strict,
rejected) the way the Kubernetes API server drops fields its Go types do not have; and
`kubectl explain` gets real field lists and descriptions. Field types are not enforced from these
schemas. The models follow the Kubernetes version kubernetes_asyncio was generated from, so a field
newer than that version is pruned.
"""

from __future__ import annotations

import functools
from typing import Any

from kubernetes_asyncio import client as models

JSON = dict[str, Any]

MODEL_NAMES: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "V1Pod",
    ("v1", "Service"): "V1Service",
    ("v1", "Endpoints"): "V1Endpoints",
    ("v1", "Event"): "CoreV1Event",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Node"): "V1Node",
    ("v1", "Namespace"): "V1Namespace",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("coordination.k8s.io/v1", "Lease"): "V1Lease",
    ("events.k8s.io/v1", "Event"): "EventsV1Event",
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "V1CustomResourceDefinition",
}

_PRIMITIVES: dict[str, JSON] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {"x-kubernetes-preserve-unknown-fields": True},
}


def _description(cls: type, attr: str) -> str:
    prop = getattr(cls, attr, None)
    doc = getattr(getattr(prop, "fget", None), "__doc__", None) or ""
    parts = [p.strip() for p in doc.split("\n\n")]
    if len(parts) < 3:
        return ""
    return parts[1].replace("# noqa: E501", "").strip()


class _Builder:
    """Builds schemas either inline (shared, possibly cyclic dicts, for pruning) or with $refs."""

    def __init__(self, refs: bool) -> None:
        self.refs = refs
        self.models: dict[str, JSON] = {}

    def type_schema(self, type_name: str) -> JSON:
        if type_name.startswith("list["):
            return {"type": "array", "items": self.type_schema(type_name[5:-1])}
        if type_name.startswith("dict("):
            inner = type_name[type_name.index(",") + 1 : -1].strip()
            return {"type": "object", "additionalProperties": self.type_schema(inner)}
        if type_name in _PRIMITIVES:
            return dict(_PRIMITIVES[type_name])
        body = self.model(type_name)
        if self.refs:
            return {"allOf": [{"$ref": f"#/components/schemas/{type_name}"}]}
        return body

    def model(self, name: str) -> JSON:
        if name in self.models:
            return self.models[name]
        cls = getattr(models, name)
        schema: JSON = {"type": "object", "properties": {}}
        self.models[name] = schema
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc and "OpenAPI Generator" not in doc[0]:
            schema["description"] = doc[0]
        for attr, json_name in cls.attribute_map.items():
            prop = self.type_schema(cls.openapi_types[attr])
            description = _description(cls, attr)
            if description:
                prop["description"] = description
            schema["properties"][json_name] = prop
        return schema


@functools.cache
def prune_schema(api_version: str, kind: str) -> JSON | None:
    """Inline schema of a built-in kind for pruning (shares and may cycle through nested dicts)."""
    name = MODEL_NAMES.get((api_version, kind))
    return _Builder(refs=False).model(name) if name else None


@functools.cache
def openapi_components(api_version: str, kind: str) -> tuple[str, dict[str, JSON]] | None:
    """(schema name of the kind, every component schema it references) for OpenAPI v3."""
    name = MODEL_NAMES.get((api_version, kind))
    if name is None:
        return None
    builder = _Builder(refs=True)
    builder.model(name)
    return name, builder.models
