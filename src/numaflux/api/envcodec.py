"""Objects passed to pods through environment variables, as base64 of JSON.

The Pipeline controller hands a pipeline to its daemon (NUMAFLOW_PIPELINE_OBJECT) and a vertex to its
pods (NUMAFLOW_VERTEX_OBJECT) this way. Encoding is stable — compact JSON with sorted keys — so the same
object always gives the same value and pod-spec hashes don't change spuriously.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from numaflux.api import constants

Model = TypeVar("Model", bound=BaseModel)


class ObjectDecodeError(ValueError):
    """The variable does not hold the expected object; the message names the variable."""


def encode_object(obj: BaseModel | Mapping[str, Any]) -> str:
    """Base64 of compact, key-sorted JSON of a model (by alias, without nulls) or a plain mapping."""
    doc = obj.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(obj, BaseModel) else obj
    return base64.b64encode(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).decode()


def decode_object(value: str, model: type[Model], *, env_name: str, kind: str) -> Model:
    """The `kind` object in `value`; apiVersion and kind may be omitted. Errors name `env_name`."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ObjectDecodeError(f"{env_name}: not valid base64: {err}") from err
    try:
        doc = json.loads(raw)
    except ValueError as err:
        raise ObjectDecodeError(f"{env_name}: not JSON: {err}") from err
    if isinstance(doc, dict):
        doc.setdefault("apiVersion", constants.GROUP_VERSION)
        doc.setdefault("kind", kind)
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        raise ObjectDecodeError(f"{env_name}: not a {kind}: {err}") from err
