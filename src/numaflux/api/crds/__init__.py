"""CustomResourceDefinitions for Pipeline, Vertex, MonoVertex and InterStepBufferService.

``generate_crds()`` gives the apiextensions.k8s.io/v1 objects, ``crds_yaml()`` the multi-document YAML
that ``numaflux crds`` prints (``kubectl apply -f -`` ready).
"""

from __future__ import annotations

import yaml

from numaflux.api.crds.definitions import (
    CATEGORY,
    KIND_INFOS,
    SCALE_SUBRESOURCE,
    KindInfo,
    UnknownCRDKindError,
    crd_for,
    generate_crds,
    kind_info,
    openapi_schema,
)
from numaflux.api.crds.structural import SchemaConversionError, structural_schema


def crds_yaml(kinds: list[str] | None = None) -> str:
    """``generate_crds(kinds)`` as a YAML stream, one ``---``-separated document per CRD."""
    return yaml.safe_dump_all(
        generate_crds(kinds), sort_keys=False, explicit_start=True, width=1_000_000, allow_unicode=True
    )


__all__ = [
    "CATEGORY",
    "KIND_INFOS",
    "SCALE_SUBRESOURCE",
    "KindInfo",
    "SchemaConversionError",
    "UnknownCRDKindError",
    "crd_for",
    "crds_yaml",
    "generate_crds",
    "kind_info",
    "openapi_schema",
    "structural_schema",
]
