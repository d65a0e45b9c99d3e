"""Edges between vertices, and the combined edges written into Vertex specs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from numaflux.api import constants as c
from numaflux.api._base import NumaModel
from numaflux.api.limits import VertexLimits

OnFull = Literal["retryUntilSuccess", "discardLatest"]
LogicOperator = Literal["and", "or", "not"]


class TagConditions(NumaModel):
    operator: LogicOperator | None = None
    values: list[str] | None = None

    def get_operator(self) -> str:
        return self.operator or c.DEFAULT_EDGE_OPERATOR


class ForwardConditions(NumaModel):
    tags: TagConditions | None = None


class Edge(NumaModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    conditions: ForwardConditions | None = None
    on_full: OnFull | None = None

    def get_from(self) -> str:
        return self.from_ or ""

    def get_to(self) -> str:
        return self.to or ""

    def get_on_full(self) -> str:
        return self.on_full or c.DEFAULT_ON_FULL


class CombinedEdge(Edge):
    """An edge plus what each end needs to know about the other (``Vertex.spec.fromEdges/toEdges``)."""

    from_vertex_type: str | None = None
    from_vertex_partition_count: int | None = None
    from_vertex_limits: VertexLimits | None = None
    to_vertex_type: str | None = None
    to_vertex_partition_count: int | None = None
    to_vertex_limits: VertexLimits | None = None
    to_vertex_ordered: bool | None = None

    def get_from_vertex_partitions(self) -> int:
        v = self.from_vertex_partition_count
        return 1 if v is None or v < 1 else v

    def get_to_vertex_partitions(self) -> int:
        v = self.to_vertex_partition_count
        return 1 if v is None or v < 1 else v
