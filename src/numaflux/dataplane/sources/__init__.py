"""Sources of a source vertex: generator, HTTP, user-defined."""

from numaflux.dataplane.sources.base import Source

__all__ = ["Source"]
