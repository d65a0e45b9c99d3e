"""Load NumaFlow objects from plain dicts (parsed YAML/JSON) and dump them back unchanged."""

from __future__ import annotations

from typing import Any

import yaml

from numaflux.api import constants as c
from numaflux.api.isbsvc import InterStepBufferService
from numaflux.api.monovertex import MonoVertex
from numaflux.api.pipeline import Pipeline
from numaflux.api.vertex import Vertex

NumaObject = Pipeline | Vertex | InterStepBufferService | MonoVertex

KINDS: dict[str, type[NumaObject]] = {
    c.KIND_PIPELINE: Pipeline,
    c.KIND_VERTEX: Vertex,
    c.KIND_ISB_SERVICE: InterStepBufferService,
    c.KIND_MONO_VERTEX: MonoVertex,
}


class UnknownKindError(ValueError):
    """The document is not one of the four NumaFlow kinds this package models."""


def model_for(doc: Any) -> type[NumaObject]:
    """The model class for ``doc`` by its apiVersion and kind; raises UnknownKindError naming the field."""
    if not isinstance(doc, dict):
        raise UnknownKindError(f"document must be an object, got {type(doc).__name__}")
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if api_version != c.GROUP_VERSION:
        raise UnknownKindError(f"apiVersion: unsupported value {api_version!r}, expected {c.GROUP_VERSION!r}")
    if kind not in KINDS:
        raise UnknownKindError(f"kind: unsupported value {kind!r}, expected one of {', '.join(KINDS)}")
    return KINDS[kind]


def load_object(doc: Any) -> NumaObject:
    """Build the typed object for ``doc``; raises UnknownKindError or pydantic.ValidationError."""
    return model_for(doc).model_validate(doc)


def dump(obj: NumaObject) -> dict[str, Any]:
    """Exactly the fields that were given (no defaults injected), with NumaFlow's JSON names.

    ``apiVersion`` and ``kind`` are always present, also for objects built in code.
    """
    out = obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"apiVersion": obj.api_version, "kind": obj.kind, **out}


class _KeepTimestampsLoader(yaml.SafeLoader):
    """Safe YAML loading that leaves timestamps as strings, as the Kubernetes API does."""


_KeepTimestampsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream (None for empty ones), timestamps kept as strings; raises
    yaml.YAMLError. The one loader for user manifests, so every command reads a file the same way."""
    return list(yaml.load_all(text, Loader=_KeepTimestampsLoader))
