"""Local StatefulSet controller: pods `{name}-{ordinal}` with stable names.

`OrderedReady` creates ordinal i only once 0..i-1 are Running and Ready and removes the highest
ordinal first, one at a time; `Parallel` creates and removes all at once. A changed template rolls
pods from the highest ordinal down (at or above `partition`), one at a time, each only while all
others are ready; `OnDelete` leaves replacement to the user. `volumeClaimTemplates` are not
provisioned locally: a local pod keeps its data on a hostPath volume instead.
"""

from __future__ import annotations

from numaflux.controller.clock import Clock
from numaflux.controller.config import Mode
from numaflux.controller.controller import Controller, Result
from numaflux.controller.informer import Informer
from numaflux.controller.kube import JSON, POD, STATEFUL_SET, KubeClient
from numaflux.controller.manager import Manager
from numaflux.controller.ownership import (
    is_pod_active,
    is_pod_ready,
    is_terminating,
    owned,
    pod_from_template,
    stable_hash,
)
from numaflux.controller.status import update_status
from numaflux.controller.workloads.pods import create_pod, delete_pod

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(sts_name: str, pod_name: str) -> int | None:
    """The ordinal in `{sts}-{i}`, or None for a name of another shape."""
    prefix = f"{sts_name}-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix) :]
    return int(tail) if tail.isdigit() else None


def revision_of(pod: JSON) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)


class StatefulSetReconciler:
    """Reconciles one StatefulSet against the pods it controls."""

    def __init__(self, kube: KubeClient, sets: Informer, pods: Informer, clock: Clock) -> None:
        self.kube = kube
        self.sets = sets
        self.pods = pods
        self.clock = clock

    async def reconcile(self, key: str) -> Result:
        sts = self.sets.get(key)
        if sts is None or is_terminating(sts):
            return Result()
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        desired = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        revision = f"{name}-{stable_hash(spec.get('template') or {})}"
        by_ordinal: dict[int, JSON] = {}
        for pod in owned(self.pods, sts):
            ordinal = ordinal_of(name, pod["metadata"]["name"])
            if ordinal is None:
                continue
            if not is_terminating(pod) and not is_pod_active(pod):
                await delete_pod(self.kube, self.pods, pod)  # a finished pod is replaced under its name
                continue
            by_ordinal[ordinal] = pod
        await self._create_missing(sts, by_ordinal, desired, parallel, revision)
        await self._remove_condemned(by_ordinal, desired, parallel)
        await self._roll(sts, by_ordinal, desired, revision)
        pods = [p for p in owned(self.pods, sts) if is_pod_active(p)]
        await update_status(self.kube, STATEFUL_SET, sts, self._status(sts, pods, revision), self.sets)
        return Result()

    async def _create_missing(
        self, sts: JSON, by_ordinal: dict[int, JSON], desired: int, parallel: bool, revision: str
    ) -> None:
        for ordinal in range(desired):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                created = await create_pod(self.kube, self.pods, self._new_pod(sts, ordinal, revision))
                if created is not None:
                    by_ordinal[ordinal] = created
                if not parallel:
                    return
            elif not parallel and (is_terminating(pod) or not is_pod_ready(pod)):
                return

    async def _remove_condemned(self, by_ordinal: dict[int, JSON], desired: int, parallel: bool) -> None:
        condemned = sorted((o for o in by_ordinal if o >= desired), reverse=True)
        if not parallel and any(is_terminating(by_ordinal[o]) for o in condemned):
            return
        for ordinal in condemned:
            pod = by_ordinal[ordinal]
            if is_terminating(pod):
                continue
            await delete_pod(self.kube, self.pods, pod)
            if not parallel:
                return

    async def _roll(self, sts: JSON, by_ordinal: dict[int, JSON], desired: int, revision: str) -> None:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        live = [by_ordinal.get(o) for o in range(desired)]
        if any(p is None or is_terminating(p) or not is_pod_ready(p) for p in live):
            return  # one pod at a time, and only while the others serve
        for ordinal in range(desired - 1, partition - 1, -1):
            pod = by_ordinal[ordinal]
            if revision_of(pod) != revision:
                await delete_pod(self.kube, self.pods, pod)
                return

    def _new_pod(self, sts: JSON, ordinal: int, revision: str) -> JSON:
        name = f"{sts['metadata']['name']}-{ordinal}"
        labels = {REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
        pod = pod_from_template(sts, (sts.get("spec") or {}).get("template") or {}, name, labels)
        pod["spec"]["hostname"] = name
        service = (sts.get("spec") or {}).get("serviceName")
        if service:
            pod["spec"]["subdomain"] = service
        return pod

    def _status(self, sts: JSON, pods: list[JSON], revision: str) -> JSON:
        old = sts.get("status") or {}
        updated = sum(1 for p in pods if revision_of(p) == revision)
        current_revision = old.get("currentRevision") or revision
        if updated == len(pods) == int((sts.get("spec") or {}).get("replicas", 1)):
            current_revision = revision
        ready = sum(1 for p in pods if is_pod_ready(p))
        return {
            "observedGeneration": sts["metadata"].get("generation"),
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": sum(1 for p in pods if revision_of(p) == current_revision),
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }


def setup(manager: Manager) -> None:
    """Register the StatefulSet controller (local mode only)."""
    if manager.config.mode is not Mode.LOCAL:
        return
    sets = manager.informer(STATEFUL_SET)
    pods = manager.informer(POD)
    reconciler = StatefulSetReconciler(manager.kube, sets, pods, manager.clock)
    controller = manager.add(Controller("statefulset", reconciler, workers=manager.config.workers))
    controller.watch_primary(sets)
    controller.watch_owned(pods, STATEFUL_SET)
