"""Semantic validation of NumaFlow objects (NumaFlow's ``pkg/reconciler/validator`` rules).

Every function returns all problems as FieldErrors (``spec.vertices[2].scale.max``: what is wrong),
in a stable order; an empty list means valid.
"""

from numaflux.api.validation.cron import CronError, CronSpec, parse_cron
from numaflux.api.validation.names import RESERVED_CONTAINER_NAMES, dns1035_problem
from numaflux.api.validation.objects import (
    DocumentResult,
    validate_document,
    validate_isbsvc,
    validate_monovertex,
    validate_object,
    validate_vertex,
)
from numaflux.api.validation.pipeline import validate_pipeline

__all__ = [
    "RESERVED_CONTAINER_NAMES",
    "CronError",
    "CronSpec",
    "DocumentResult",
    "dns1035_problem",
    "parse_cron",
    "validate_document",
    "validate_isbsvc",
    "validate_monovertex",
    "validate_object",
    "validate_pipeline",
    "validate_vertex",
]
