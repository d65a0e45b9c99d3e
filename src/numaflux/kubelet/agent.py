"""Connects the local kubelet to an API server through kubernetes_asyncio.

It registers this machine as a Node, binds unscheduled pods to it, runs the pods bound to it, writes
their status through `pods/status`, turns kubelet events into Events, and finishes graceful deletions
(terminate within the grace period, then delete with gracePeriodSeconds=0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from numaflux import __version__
from numaflux.kubelet.apisync import MERGE_PATCH, ApiResolver, raw_json, watch_lines
from numaflux.kubelet.events import EventAggregator
from numaflux.kubelet.node import Kubelet, KubeletConfig
from numaflux.kubelet.timefmt import rfc3339

log = logging.getLogger("numaflux.kubelet")

DEFAULT_SCHEDULER = "default-scheduler"
HEARTBEAT_SECONDS = 10.0
WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = 1.0
TRANSIENT: tuple[type[Exception], ...] = (OSError, TimeoutError, aiohttp.ClientError)
"""Errors of an unreachable or restarting API server: retried."""
FAILED_CALL: tuple[type[Exception], ...] = (ApiException, *TRANSIENT)
STATUS_KEYS = (
    "phase",
    "conditions",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "initContainerStatuses",
    "containerStatuses",
    "qosClass",
)


def ready_file(data_dir: Path) -> Path:
    """Written (with the agent's pid) once the Node is registered; removed on exit."""
    return Path(data_dir) / "run" / "kubelet.ready"


def is_ready(data_dir: Path) -> bool:
    """Whether a kubelet agent runs for this data dir and has registered its Node."""
    try:
        pid = int(ready_file(data_dir).read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


class KubeletAgent:
    """Runs `kubelet` for the pods the API server assigns to `node_name`."""

    def __init__(self, kubelet: Kubelet, api: client.ApiClient) -> None:
        self.kubelet = kubelet
        self.api = api
        # Untyped on purpose: calls pass raw JSON bodies and options the generated signatures do not declare.
        self.core: Any = client.CoreV1Api(api)
        self.node_name = kubelet.config.node_name
        self._finishing: dict[str, asyncio.Task[None]] = {}
        self._ready_since = rfc3339(time.time())
        self._events: asyncio.Queue[tuple[str, str, str, dict[str, Any]]] = asyncio.Queue(maxsize=1000)
        self._aggregator = EventAggregator()
        kubelet.config.on_event = self._queue_event

    @classmethod
    def create(cls, config: KubeletConfig, api: client.ApiClient) -> KubeletAgent:
        """A kubelet whose ConfigMap/Secret references are read from `api`."""
        config.resolver = ApiResolver(client.CoreV1Api(api))
        return cls(Kubelet(config), api)

    async def run(self) -> None:
        """Register, then sync pods until cancelled; on cancellation stop every pod (status left as is)."""
        await self.kubelet.start()
        await self.register_node()
        marker = ready_file(self.kubelet.data_dir)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        tasks = [
            asyncio.create_task(self._publish_statuses(), name="kubelet status"),
            asyncio.create_task(self._publish_events(), name="kubelet events"),
            asyncio.create_task(self._heartbeat(), name="kubelet heartbeat"),
            asyncio.create_task(self._watch_pods(), name="kubelet pods"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._report_stopping()
            # Pods stop with the kubelet but keep their last published status, so a later start resumes them.
            await self.kubelet.shutdown(self.kubelet.config.shutdown_grace)
            marker.unlink(missing_ok=True)

    # -- node ----------------------------------------------------------------------------------------

    def _node_status(self) -> dict[str, Any]:
        now = rfc3339(time.time())
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory // 1024}Ki", "pods": "110"}
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "numaflux local kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": self._ready_since,
        }
        return {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [ready],
            "addresses": [
                {"type": "InternalIP", "address": self.kubelet.config.host_ip},
                {"type": "Hostname", "address": self.node_name},
            ],
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": platform.release(),
                "osImage": platform.platform(),
                "containerRuntimeVersion": f"numaflux://{__version__}",
                "kubeletVersion": f"v1.31.0-numaflux.{__version__}",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
        }

    async def register_node(self) -> None:
        """Create this machine's Node (or refresh its status if it exists)."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": _arch(),
                    "node.kubernetes.io/instance-type": "numaflux-local",
                },
            },
            "spec": {},
        }
        try:
            await raw_json(self.core.create_node(body, _preload_content=False))
        except ApiException as error:
            if error.status != 409:
                raise
        await self._patch_node_status()

    async def _patch_node_status(self) -> None:
        await raw_json(
            self.core.patch_node_status(
                self.node_name,
                {"status": self._node_status()},
                _content_type=MERGE_PATCH,
                _preload_content=False,
            )
        )

    async def _report_stopping(self) -> None:
        """Best effort: mark the Node NotReady so users see that its pods are not being run."""
        now = rfc3339(time.time())
        condition = {
            "type": "Ready",
            "status": "False",
            "reason": "KubeletStopped",
            "message": "numaflux local kubelet stopped",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        call = self.core.patch_node_status(
            self.node_name,
            {"status": {"conditions": [condition]}},
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )
        try:
            await asyncio.wait_for(raw_json(call), 3)
        except FAILED_CALL as error:
            log.warning("node %s: could not report NotReady: %s", self.node_name, error)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._patch_node_status()
            except FAILED_CALL as error:
                log.warning("node %s: heartbeat failed: %s", self.node_name, error)

    # -- pods ----------------------------------------------------------------------------------------

    async def _watch_pods(self) -> None:
        while True:
            try:
                listing = await raw_json(self.core.list_pod_for_all_namespaces(_preload_content=False))
                mine = set()
                for pod in listing.get("items") or []:
                    pod.setdefault("kind", "Pod")
                    await self._handle("ADDED", pod)
                    if (pod.get("spec") or {}).get("nodeName") == self.node_name:
                        mine.add(pod["metadata"]["uid"])
                self.kubelet.forget_missing(mine)
                version = (listing.get("metadata") or {}).get("resourceVersion", "")
                while True:
                    version = await self._watch_from(version)
            except _Gone:
                log.info("pod watch expired; listing again")
            except FAILED_CALL as error:
                log.warning("pod watch failed: %s; retrying", error)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("pod sync failed; listing again")
                await asyncio.sleep(RETRY_SECONDS)

    async def _watch_from(self, version: str) -> str:
        # "true" rather than True: the client would send "True", which not every server parses.
        call = self.core.list_pod_for_all_namespaces(
            watch="true",
            resource_version=version,
            allow_watch_bookmarks="true",
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _preload_content=False,
        )
        async for event in watch_lines(call):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
                raise ApiException(status=0, reason=f"pod watch: unexpected answer {str(event)[:200]}")
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone()
                raise ApiException(status=obj.get("code"), reason=obj.get("message"))
            version = (obj.get("metadata") or {}).get("resourceVersion", version)
            if kind != "BOOKMARK":
                await self._handle(str(kind), obj)
        return version

    async def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        uid = meta.get("uid", "")
        node = spec.get("nodeName")
        if kind == "DELETED":
            if uid in self.kubelet.pods:
                await self.kubelet.remove_pod(uid)
            return
        if not node:
            if (spec.get("schedulerName") or DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER and not meta.get(
                "deletionTimestamp"
            ):
                await self._bind(pod)
            return
        if node != self.node_name:
            return
        deleting = bool(meta.get("deletionTimestamp"))
        if uid not in self.kubelet.pods:
            phase = (pod.get("status") or {}).get("phase")
            if deleting or phase in ("Succeeded", "Failed"):
                # Nothing runs here for it: a deleted pod can go at once; a finished one stays finished.
                if deleting:
                    self._finish_deletion(pod)
                return
        self.kubelet.sync_pod(pod)
        if deleting:
            self._finish_deletion(pod)

    async def _bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        name, namespace = meta["name"], meta.get("namespace", "default")
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            await raw_json(
                self.core.create_namespaced_pod_binding(name, namespace, binding, _preload_content=False)
            )
        except ApiException as error:
            if error.status in (404, 405) and "binding" in str(error.reason).lower():
                # An API server without the binding subresource: set spec.nodeName directly.
                patch = {"metadata": {"uid": meta.get("uid")}, "spec": {"nodeName": self.node_name}}
                await raw_json(
                    self.core.patch_namespaced_pod(
                        name, namespace, patch, _content_type=MERGE_PATCH, _preload_content=False
                    )
                )
            elif error.status in (404, 409):
                log.info("pod %s/%s: not bound (%s)", namespace, name, error.status)
            else:
                raise
        self._queue_event(
            pod, "Normal", "Scheduled", f"Successfully assigned {namespace}/{name} to {self.node_name}", ""
        )

    def _finish_deletion(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if uid not in self._finishing:
            self._finishing[uid] = asyncio.create_task(self._delete_after_termination(pod))

    async def _delete_after_termination(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid, name, namespace = meta["uid"], meta["name"], meta.get("namespace", "default")
        try:
            grace = meta.get("deletionGracePeriodSeconds")
            await self.kubelet.terminate_pod(uid, None if grace is None else float(grace))
            body = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid},
            }
            while True:
                try:
                    await raw_json(
                        self.core.delete_namespaced_pod(
                            name, namespace, body=body, grace_period_seconds=0, _preload_content=False
                        )
                    )
                    break
                except ApiException as error:
                    if error.status in (404, 409):
                        break
                    log.warning("pod %s/%s: final delete failed: %s; retrying", namespace, name, error)
                    await asyncio.sleep(RETRY_SECONDS)
                except TRANSIENT as error:
                    log.warning("pod %s/%s: final delete failed: %s; retrying", namespace, name, error)
                    await asyncio.sleep(RETRY_SECONDS)
            await self.kubelet.remove_pod(uid)
        finally:
            self._finishing.pop(uid, None)

    # -- status and events ---------------------------------------------------------------------------

    async def _publish_statuses(self) -> None:
        async for update in self.kubelet.status_updates():
            status: dict[str, Any] = {key: None for key in STATUS_KEYS}
            status.update(update.status)
            body = {"metadata": {"uid": update.uid}, "status": status}
            try:
                await raw_json(
                    self.core.patch_namespaced_pod_status(
                        update.name, update.namespace, body, _content_type=MERGE_PATCH, _preload_content=False
                    )
                )
            except ApiException as error:
                if error.status not in (404, 409):
                    log.warning("pod %s/%s: status update failed: %s", update.namespace, update.name, error)
                    self._retry_status(update.uid)
            except TRANSIENT as error:
                log.warning("pod %s/%s: status update failed: %s", update.namespace, update.name, error)
                self._retry_status(update.uid)

    def _retry_status(self, uid: str) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(RETRY_SECONDS, self.kubelet.notify, uid)

    def _queue_event(
        self, pod: dict[str, Any], kind: str, reason: str, message: str, field_path: str
    ) -> None:
        meta = pod["metadata"]
        namespace = meta.get("namespace", "default")
        message = message[:1024]
        key = (str(meta.get("uid")), kind, reason, message, field_path)
        decision = self._aggregator.record(key, meta["name"], time.monotonic())
        now = rfc3339(time.time())
        if decision.action == "skip":
            return
        if decision.action == "update":
            body = {"count": decision.count, "lastTimestamp": now}
            self._send(("update", namespace, decision.name, body))
            return
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": decision.name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
        }
        self._send(("create", namespace, decision.name, event))

    def _send(self, item: tuple[str, str, str, dict[str, Any]]) -> None:
        try:
            self._events.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("event %s/%s dropped: %d events waiting", item[1], item[2], self._events.qsize())

    async def _publish_events(self) -> None:
        while True:
            action, namespace, name, body = await self._events.get()
            try:
                if action == "create":
                    call = self.core.create_namespaced_event(namespace, body, _preload_content=False)
                else:
                    call = self.core.patch_namespaced_event(
                        name, namespace, body, _content_type=MERGE_PATCH, _preload_content=False
                    )
                await raw_json(call)
            except FAILED_CALL as error:
                log.warning("event %s/%s not recorded: %s", namespace, name, error)


class _Gone(Exception):
    """The watch's resourceVersion is too old (410)."""


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
