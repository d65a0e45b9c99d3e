"""Local Deployment controller: pods straight from the Deployment, without ReplicaSets.

Pods are named `{deployment}-{hash10}-{rand5}` and labelled `pod-template-hash={hash10}`, the hash
of the pod template, so a restarted controller recognises its pods and a changed template is detected.
A rolling update creates new-template pods up to `replicas + maxSurge` and deletes old ones while at
least `replicas - maxUnavailable` pods stay available; `Recreate` deletes all old pods first. The
ReplicaSet layer is left out: there is no rollout history (`kubectl rollout undo` has nothing to go
back to), which local mode does not need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from numaflux.api.status import format_time
from numaflux.api.update_strategy import scaled_value_from_int_or_percent
from numaflux.controller.clock import Clock
from numaflux.controller.config import Mode
from numaflux.controller.controller import Controller, Result
from numaflux.controller.informer import Informer
from numaflux.controller.kube import DEPLOYMENT, JSON, POD, KubeClient
from numaflux.controller.manager import Manager
from numaflux.controller.ownership import (
    is_pod_active,
    is_pod_ready,
    is_terminating,
    owned,
    pod_from_template,
    random_suffix,
    stable_hash,
)
from numaflux.controller.status import update_status
from numaflux.controller.workloads.pods import CREATED_NS_ANNOTATION, create_pod, delete_pod, is_available

HASH_LABEL = "pod-template-hash"


@dataclass
class RolloutPlan:
    """What one reconcile does: create `create` new-template pods, delete `delete`."""

    create: int = 0
    delete: list[JSON] = field(default_factory=list)


def rolling_bounds(spec: JSON, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; both 0 would deadlock, so unavailable becomes 1."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value_from_int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value_from_int_or_percent(
        rolling.get("maxUnavailable", "25%"), desired, round_up=False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def plan_rollout(
    spec: JSON, desired: int, new: list[JSON], old: list[JSON], available: set[str]
) -> RolloutPlan:
    """The next step towards `desired` pods of the current template. `available` holds pod names."""
    plan = RolloutPlan()
    recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
    if recreate:
        if old:
            plan.delete = list(old)
            return plan
        surge, unavailable = 0, desired
    else:
        surge, unavailable = rolling_bounds(spec, desired)
    if len(new) > desired:
        # Scale down: unavailable pods first, then the newest.
        ranked = sorted(new, key=_created, reverse=True)
        ranked.sort(key=lambda p: p["metadata"]["name"] in available)
        plan.delete.extend(ranked[: len(new) - desired])
        new = ranked[len(new) - desired :]
    if len(new) < desired:
        plan.create = max(0, min(desired - len(new), desired + surge - len(new) - len(old)))
    if old:
        # Unavailable old pods do not count towards availability: they can always go. Available ones go
        # as far as `replicas - maxUnavailable` available pods remain.
        plan.delete.extend(p for p in old if p["metadata"]["name"] not in available)
        now_available = sum(1 for p in new + old if p["metadata"]["name"] in available)
        budget = now_available - (desired - unavailable)
        ready_old = [p for p in old if p["metadata"]["name"] in available]
        plan.delete.extend(ready_old[: max(0, budget)])
    return plan


def _created(pod: JSON) -> tuple[str, int]:
    meta = pod["metadata"]
    fine = (meta.get("annotations") or {}).get(CREATED_NS_ANNOTATION, "0")
    return str(meta.get("creationTimestamp") or ""), int(fine) if fine.isdigit() else 0


class DeploymentReconciler:
    """Reconciles one Deployment against the pods it controls."""

    def __init__(self, kube: KubeClient, deployments: Informer, pods: Informer, clock: Clock) -> None:
        self.kube = kube
        self.deployments = deployments
        self.pods = pods
        self.clock = clock

    async def reconcile(self, key: str) -> Result:
        dep = self.deployments.get(key)
        if dep is None or is_terminating(dep):
            return Result()  # its pods are garbage-collected through their ownerReferences
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        template_hash = stable_hash(template)
        now = self.clock.now()
        min_ready = float(spec.get("minReadySeconds") or 0)
        mine = owned(self.pods, dep)
        for pod in mine:
            if not is_terminating(pod) and not is_pod_active(pod):
                await delete_pod(self.kube, self.pods, pod)  # finished pods are replaced
        active = [p for p in mine if is_pod_active(p)]
        new = [p for p in active if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash]
        old = [p for p in active if p not in new]
        available = {p["metadata"]["name"] for p in active if is_available(p, min_ready, now)}
        plan = plan_rollout(spec, desired, new, old, available)
        for pod in plan.delete:
            await delete_pod(self.kube, self.pods, pod)
        name = dep["metadata"]["name"]
        for _ in range(plan.create):
            pod = pod_from_template(
                dep, template, f"{name}-{template_hash}-{random_suffix()}", {HASH_LABEL: template_hash}
            )
            await create_pod(self.kube, self.pods, pod)
        active = [p for p in owned(self.pods, dep) if is_pod_active(p)]
        await update_status(
            self.kube, DEPLOYMENT, dep, self._status(dep, active, template_hash, now), self.deployments
        )
        pending_ready = any(is_pod_ready(p) and not is_available(p, min_ready, now) for p in active)
        return Result(requeue_after=min_ready if pending_ready else None)

    def _status(self, dep: JSON, active: list[JSON], template_hash: str, now: datetime) -> JSON:
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        min_ready = float(spec.get("minReadySeconds") or 0)
        updated = [p for p in active if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash]
        ready = sum(1 for p in active if is_pod_ready(p))
        available = sum(1 for p in active if is_available(p, min_ready, now))
        _, max_unavailable = rolling_bounds(spec, desired)
        stamp = format_time(now)
        if available >= desired - max_unavailable:
            avail_cond = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail_cond = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        done = len(updated) == desired and len(active) == desired and available == desired
        name = dep["metadata"]["name"]
        if done:
            prog = ("True", "NewReplicaSetAvailable", f'Deployment "{name}" has successfully progressed.')
        else:
            prog = ("True", "ReplicaSetUpdated", f'Deployment "{name}" is progressing.')
        conditions = [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": m,
                "lastTransitionTime": stamp,
                "lastUpdateTime": stamp,
            }
            for t, (s, r, m) in (("Available", avail_cond), ("Progressing", prog))
        ]
        status: JSON = {
            "observedGeneration": dep["metadata"].get("generation"),
            "replicas": len(active),
            "updatedReplicas": len(updated),
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": conditions,
        }
        if desired - available > 0:
            status["unavailableReplicas"] = desired - available
        return status


def setup(manager: Manager) -> None:
    """Register the Deployment controller (local mode only; a real cluster has its own)."""
    if manager.config.mode is not Mode.LOCAL:
        return
    deployments = manager.informer(DEPLOYMENT)
    pods = manager.informer(POD)
    reconciler = DeploymentReconciler(manager.kube, deployments, pods, manager.clock)
    controller = manager.add(Controller("deployment", reconciler, workers=manager.config.workers))
    controller.watch_primary(deployments)
    controller.watch_owned(pods, DEPLOYMENT)
