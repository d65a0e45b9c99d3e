"""Upstream example image names → the command of the bundled program that behaves the same."""

from __future__ import annotations

import sys

_GO = "quay.io/numaio/numaflow-go"
_RS = "quay.io/numaio/numaflow-rs"

# image short name → bundled module; published under both SDK registries where upstream has both.
_PROGRAMS: dict[str, str] = {
    "map-cat": "map_cat",
    "map-even-odd": "map_even_odd",
    "map-filter-id": "map_filter_id",
    "map-forward-message": "map_forward_message",
    "map-flatmap-stream": "map_flatmap_stream",
    "flatmap-stream": "map_flatmap_stream",
    "map-retry": "map_retry",
    "batchmap-cat": "map_cat_batch",
    "sink-log": "sink_log",
    "fb-sink-log": "fb_sink_log",
    "simple-source": "simple_source",
    "source-transformer-now": "source_transformer_now",
}
_TAGS = ("stable", "latest")


def _command(module: str) -> list[str]:
    return [sys.executable, "-m", f"numaflux.udfs.{module}"]


def _build() -> dict[str, list[str]]:
    images: dict[str, list[str]] = {}
    for short, module in _PROGRAMS.items():
        for registry in (_GO, _RS):
            images[f"{registry}/{short}"] = _command(module)
            for tag in _TAGS:
                images[f"{registry}/{short}:{tag}"] = _command(module)
    return images


BUNDLED_IMAGES: dict[str, list[str]] = _build()
"""Image reference (with ``:stable``, ``:latest`` or no tag) → command list for the local kubelet."""
