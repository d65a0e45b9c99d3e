"""Timestamps as the Kubernetes API writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(epoch: float) -> str:
    """Seconds-precision UTC timestamp, e.g. 2026-01-02T03:04:05Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
