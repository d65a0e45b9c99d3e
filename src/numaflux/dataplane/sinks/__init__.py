"""Sinks of a sink vertex (log, blackhole, user-defined) and the delivery policy around them
(retryStrategy, fallback and onSuccess sinks)."""

from numaflux.dataplane.sinks.base import Sink, build_sink
from numaflux.dataplane.sinks.delivery import Delivery, DeliverySummary, backoff_delay

__all__ = ["Delivery", "DeliverySummary", "Sink", "backoff_delay", "build_sink"]
