"""Event recorder: core v1 Events about objects, with repeats aggregated into a count (as kubectl shows)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from dataclasses import dataclass

from numaflux.api.status import format_time
from numaflux.controller.clock import Clock, SystemClock
from numaflux.controller.kube import EVENT, JSON, KubeClient, is_not_found
from numaflux.controller.logs import kv

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
COMPONENT = "numaflux-controller"
CACHE_SIZE = 4096


@dataclass
class _Seen:
    namespace: str
    name: str
    count: int


class EventRecorder:
    """`event(obj, type, reason, message)` records in the background; `flush()` waits for pending writes."""

    def __init__(self, kube: KubeClient, component: str = COMPONENT, clock: Clock | None = None) -> None:
        self.kube = kube
        self.component = component
        self.instance = socket.gethostname()
        self.clock: Clock = clock or SystemClock()
        self._seen: OrderedDict[tuple[str, str, str, str], _Seen] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    def event(self, obj: JSON, type_: str, reason: str, message: str) -> None:
        """Record an Event about `obj` without waiting (errors are logged)."""
        task = asyncio.get_running_loop().create_task(self.record(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def normal(self, obj: JSON, reason: str, message: str) -> None:
        self.event(obj, NORMAL, reason, message)

    def warning(self, obj: JSON, reason: str, message: str) -> None:
        self.event(obj, WARNING, reason, message)

    async def flush(self) -> None:
        """Wait for events still being written."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def record(self, obj: JSON, type_: str, reason: str, message: str) -> None:
        """Create the Event, or bump the count of an identical recent one."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", "")), type_, reason, message)
        now = format_time(self.clock.now())
        try:
            async with self._lock:
                seen = self._seen.get(key)
                if seen is not None:
                    try:
                        await self.kube.patch(
                            EVENT, seen.namespace, seen.name, {"count": seen.count + 1, "lastTimestamp": now}
                        )
                        seen.count += 1
                        self._seen.move_to_end(key)
                        return
                    except Exception as err:
                        if not is_not_found(err):
                            raise
                        del self._seen[key]
                name = f"{meta.get('name')}.{self.clock.now().strftime('%Y%m%d%H%M%S%f')}"
                await self.kube.create(
                    EVENT, self._new_event(obj, namespace, name, type_, reason, message, now)
                )
                self._seen[key] = _Seen(namespace, name, 1)
                while len(self._seen) > CACHE_SIZE:
                    self._seen.popitem(last=False)
        except Exception as err:
            log.warning(
                kv(
                    "could not record event",
                    object=f"{obj.get('kind')} {namespace}/{meta.get('name')}",
                    reason=reason,
                    error=repr(err),
                )
            )

    def _new_event(
        self, obj: JSON, namespace: str, name: str, type_: str, reason: str, message: str, now: str
    ) -> JSON:
        meta = obj.get("metadata") or {}
        return {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
        }
