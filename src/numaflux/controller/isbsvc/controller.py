"""InterStepBufferService reconciler (JetStream).

Straight-line, like NumaFlow's: fetch → (deleting: uninstall, drop finalizer) → ensure finalizer →
init conditions → validate → install children (local or Kubernetes rendering) → mark deployed →
health from ready pods (quorum `replicas/2 + 1`) → publish `status.config.jetstream.url` → write status
only if it changed. Every create/update of a child and every failure is also an Event.

Locally the URL is `nats://{podIP}:4222` of a ready pod (Service names do not resolve on this machine);
it is kept while the pod restarts and changes only if the pod is replaced.
"""

from __future__ import annotations

import copy
import logging
import shutil
from typing import Any

from pydantic import ValidationError

from numaflux.api import InterStepBufferService
from numaflux.api import constants as c
from numaflux.api.isbsvc import BufferServiceConfig, InterStepBufferServiceStatus, JetStreamConfig
from numaflux.controller.children import apply_child
from numaflux.controller.clock import Clock
from numaflux.controller.config import OWN_IMAGE, ControllerConfig, Mode
from numaflux.controller.controller import Controller, Result, TerminalError
from numaflux.controller.events import EventRecorder
from numaflux.controller.informer import Informer
from numaflux.controller.isbsvc import kubernetes, local
from numaflux.controller.isbsvc.common import ISB_TYPE, buffer_config, headless_service, stream_config_yaml
from numaflux.controller.kube import (
    CONFIG_MAP,
    ISB_SERVICE,
    JSON,
    POD,
    SERVICE,
    STATEFUL_SET,
    Kind,
    KubeClient,
    is_not_found,
)
from numaflux.controller.logs import kv
from numaflux.controller.manager import Manager
from numaflux.controller.ownership import is_pod_active, is_pod_ready, pod_ip
from numaflux.controller.status import update_status

FINALIZER = "isbsvc-controller"
log = logging.getLogger(__name__)


def quorum(replicas: int) -> int:
    """Ready pods a JetStream cluster of `replicas` servers needs."""
    return replicas // 2 + 1


class ISBServiceReconciler:
    def __init__(
        self,
        kube: KubeClient,
        config: ControllerConfig,
        recorder: EventRecorder,
        clock: Clock,
        informers: dict[Kind, Informer],
    ) -> None:
        self.kube = kube
        self.config = config
        self.recorder = recorder
        self.clock = clock
        self.informers = informers

    async def reconcile(self, key: str) -> Result:
        observed = self.informers[ISB_SERVICE].get(key)
        if observed is None:
            return Result()
        obj = copy.deepcopy(observed)
        try:
            isb = InterStepBufferService.model_validate(obj)
        except ValidationError as err:
            await self._fail_invalid(
                observed,
                f"invalid spec: {err.errors()[0].get('msg')} at "
                f"{'.'.join(str(p) for p in err.errors()[0].get('loc', ()))}",
            )
            raise TerminalError(str(err)) from err
        if obj["metadata"].get("deletionTimestamp"):
            return await self._delete(observed, isb)
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            finalizers = [*(obj["metadata"].get("finalizers") or []), FINALIZER]
            written = await self.kube.patch(
                ISB_SERVICE, isb.namespace, isb.name, {"metadata": {"finalizers": finalizers}}
            )
            self.informers[ISB_SERVICE].record_write(written)
            observed = written
        now = self.clock.now()
        status = isb.get_status()
        status.init_conditions(now)
        status.observed_generation = obj["metadata"].get("generation")
        status.type = ISB_TYPE
        status.message = None
        js = isb.spec.jetstream
        if js is None:
            status.mark_not_configured(
                "InvalidSpec", "spec.jetstream: required (JetStream is the only ISB type)", now
            )
            await self._write(observed, status)
            self.recorder.warning(observed, "InvalidSpec", status.message or "")
            raise TerminalError(status.message)
        local_mode = self.config.mode is Mode.LOCAL
        servers = local.LOCAL_REPLICAS if local_mode else js.get_replicas()
        try:
            stream_config = stream_config_yaml(buffer_config(isb, servers))
        except (ValueError, TypeError) as err:
            status.mark_not_configured("InvalidSpec", str(err), now)
            await self._write(observed, status)
            self.recorder.warning(observed, "InvalidSpec", str(err))
            raise TerminalError(str(err)) from err
        status.mark_configured(now)
        try:
            await self._install(isb, observed, local_mode)
        except Exception as err:
            message = f"failed to install the ISB service: {err}"
            status.mark_deploy_failed("DeployFailed", message, now)
            await self._write(observed, status)
            self.recorder.warning(observed, "DeployFailed", message)
            raise
        status.mark_deployed(now)
        pods = self._pods(isb)
        ready = [p for p in pods if is_pod_ready(p)]
        needed = quorum(servers)
        if len(ready) >= needed:
            status.mark_children_healthy(now)
        else:
            status.mark_children_unhealthy(
                "StatefulSetNotHealthy",
                f"{len(ready)} of {servers} pods ready, quorum is {needed}",
                now,
            )
        url = self._url(isb, ready, status, local_mode)
        status.config = BufferServiceConfig(
            jetstream=JetStreamConfig(url=url, stream_config=stream_config, tls_enabled=bool(js.tls))
        )
        await self._write(observed, status)
        return Result()

    async def _install(self, isb: InterStepBufferService, owner: JSON, local_mode: bool) -> None:
        children: list[tuple[Kind, JSON]] = [(SERVICE, headless_service(isb, owner))]
        if local_mode:
            # The ISB pods are versioned by the ISB service, not by the controller (NumaFlow takes their
            # images from its ConfigMap): a controller upgrade (another --image tag) leaves them running.
            sts = local.statefulset(isb, owner, OWN_IMAGE, self.config.isb_data_dir())
        else:
            children.append((CONFIG_MAP, kubernetes.config_map(isb, owner)))
            sts = kubernetes.statefulset(isb, owner)
        children.append((STATEFUL_SET, sts))
        for kind, child in children:
            done = await apply_child(self.kube, self.informers[kind], kind, child)
            if done is not None:
                name = child["metadata"]["name"]
                log.info(kv(f"{done} {kind.kind}", isbsvc=f"{isb.namespace}/{isb.name}", child=name))
                self.recorder.normal(
                    owner, "Created" if done == "created" else "Updated", f"{done} {kind.kind} {name}"
                )

    def _pods(self, isb: InterStepBufferService) -> list[JSON]:
        prefix = f"{isb.statefulset_name()}-"
        pods = self.informers[POD].store.by_index(INDEX_ISB, f"{isb.namespace}/{isb.name}")
        return [p for p in pods if is_pod_active(p) and p["metadata"]["name"].startswith(prefix)]

    def _url(
        self,
        isb: InterStepBufferService,
        ready: list[JSON],
        status: InterStepBufferServiceStatus,
        local_mode: bool,
    ) -> str | None:
        if not local_mode:
            return isb.client_url()
        addresses = [
            ip for ip in (pod_ip(p) for p in sorted(ready, key=lambda p: p["metadata"]["name"])) if ip
        ]
        if addresses:
            return f"nats://{addresses[0]}:{c.JETSTREAM_CLIENT_PORT}"
        previous = status.config.jetstream if status.config else None
        return previous.url if previous else None

    async def _delete(self, observed: JSON, isb: InterStepBufferService) -> Result:
        """Stop the servers, remove local data, then let the object go."""
        if FINALIZER not in (observed["metadata"].get("finalizers") or []):
            return Result()
        status = isb.get_status()
        status.mark_phase_deleting()
        await self._write(observed, status)
        if self.informers[STATEFUL_SET].get(f"{isb.namespace}/{isb.statefulset_name()}") is not None:
            try:
                await self.kube.delete(
                    STATEFUL_SET, isb.namespace, isb.statefulset_name(), propagation="Background"
                )
            except Exception as err:
                if not is_not_found(err):
                    raise
        if self.informers[POD].store.by_index(INDEX_ISB, f"{isb.namespace}/{isb.name}"):
            return Result(requeue_after=1.0)  # pods still stopping; their deletion events also requeue
        if self.config.mode is Mode.LOCAL:
            target = local.data_dir(self.config.isb_data_dir(), isb)
            if target.exists():
                shutil.rmtree(target)
        finalizers = [f for f in observed["metadata"].get("finalizers") or [] if f != FINALIZER]
        await self.kube.patch(ISB_SERVICE, isb.namespace, isb.name, {"metadata": {"finalizers": finalizers}})
        self.recorder.normal(observed, "Deleted", "ISB service servers stopped and data removed")
        return Result()

    async def _fail_invalid(self, observed: JSON, message: str) -> None:
        now = self.clock.now()
        status = InterStepBufferServiceStatus()
        status.init_conditions(now)
        status.mark_not_configured("InvalidSpec", message, now)
        await self._write(observed, status)
        self.recorder.warning(observed, "InvalidSpec", message)

    async def _write(self, observed: JSON, status: InterStepBufferServiceStatus) -> None:
        dumped: dict[str, Any] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        await update_status(self.kube, ISB_SERVICE, observed, dumped, self.informers[ISB_SERVICE])


INDEX_ISB = "isbsvc"


def _isb_of_pod(pod: JSON) -> list[str]:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = labels.get(c.KEY_ISB_SERVICE_NAME)
    if name is None or labels.get(c.KEY_COMPONENT) != c.COMPONENT_ISB_SERVICE:
        return []
    return [f"{meta.get('namespace')}/{name}"]


def setup(manager: Manager) -> None:
    """Register the ISB service controller: watches ISB services, their StatefulSets, Services,
    ConfigMaps (Kubernetes mode) and pods (by the isbsvc-name label)."""
    kinds = [ISB_SERVICE, STATEFUL_SET, SERVICE, POD]
    if manager.config.mode is Mode.KUBERNETES:
        kinds.append(CONFIG_MAP)
    informers = {kind: manager.informer(kind) for kind in kinds}
    informers[POD].add_indexer(INDEX_ISB, _isb_of_pod)
    reconciler = ISBServiceReconciler(
        manager.kube, manager.config, manager.recorder, manager.clock, informers
    )
    controller = manager.add(Controller("isbsvc", reconciler, workers=manager.config.workers))
    controller.watch_primary(informers[ISB_SERVICE])
    for kind in kinds[1:]:
        if kind is POD:
            controller.watch(informers[POD], _isb_of_pod)
        else:
            controller.watch_owned(informers[kind], ISB_SERVICE)
