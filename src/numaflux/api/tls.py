"""TLS settings of external connectors."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from numaflux.api._base import NumaModel


class TLS(NumaModel):
    insecure_skip_verify: bool | None = None
    ca_cert_secret: dict[str, Any] | None = None  # SecretKeySelector
    cert_secret: dict[str, Any] | None = None
    key_secret: dict[str, Any] | None = Field(default=None, alias="clientKeySecret")
