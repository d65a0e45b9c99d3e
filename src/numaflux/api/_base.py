"""Base model shared by every NumaFlow type."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# Kubernetes-typed sub-structures (env, volumes, affinity, resources, ...) are carried as plain JSON.
JsonObject = dict[str, Any]
JsonList = list[Any]


class NumaModel(BaseModel):
    """A NumaFlow API type.

    Attributes are snake_case; the JSON names are NumaFlow's camelCase (generated, or given explicitly with
    ``Field(alias=...)`` where NumaFlow deviates). Unknown fields are errors and types are strict (no
    ``"5"`` → ``5`` coercion), matching what the Kubernetes API server would accept.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        strict=True,
    )
