"""Conditional forwarding (data-plane §3.3): which out edges a message goes to, by its tags.

Pure functions; the edge writers pick the partition (by keys for keyed edges, else by id offset).
"""

from __future__ import annotations

from collections.abc import Sequence

from numaflux.api import CombinedEdge, ForwardConditions
from numaflux.dataplane.udf import DROP

DROP_TAG = DROP
REASON_NO_EDGE = "forwarding-rules-not-met"
REASON_DROP = "drop-tag"
REASON_FULL = "buffer-full"


def should_forward(tags: Sequence[str] | None, conditions: ForwardConditions | None) -> bool:
    """NumaFlow's ``should_forward``: no conditions or no values → True; ``or`` any value in tags;
    ``and`` every value in tags; ``not`` none of the values in tags; unknown operator → False."""
    if conditions is None or conditions.tags is None or not conditions.tags.values:
        return True
    values = conditions.tags.values
    have = set(tags or ())
    op = conditions.tags.get_operator()
    if op == "or":
        return any(v in have for v in values)
    if op == "and":
        return all(v in have for v in values)
    if op == "not":
        return not any(v in have for v in values)
    return False


def is_drop(tags: Sequence[str] | None) -> bool:
    """The reserved DROP tag: acked, never forwarded."""
    return bool(tags) and DROP_TAG in tags  # type: ignore[operator]


def select_edges(tags: Sequence[str] | None, edges: Sequence[CombinedEdge]) -> list[int]:
    """Indexes of the edges a message with `tags` is written to (empty: dropped)."""
    if is_drop(tags):
        return []
    if not tags:
        # Fast path: untagged messages pass edges without conditions and `not` edges.
        return [i for i, e in enumerate(edges) if should_forward((), e.conditions)]
    return [i for i, e in enumerate(edges) if should_forward(tags, e.conditions)]


def drop_reason(tags: Sequence[str] | None) -> str:
    """Metric reason of a message that goes nowhere."""
    return REASON_DROP if is_drop(tags) else REASON_NO_EDGE


def is_keyed_edge(edge: CombinedEdge) -> bool:
    """Partition by keys (reduce targets, ordered targets), else by id offset."""
    return edge.to_vertex_type == "ReduceUDF" or bool(edge.to_vertex_ordered)
