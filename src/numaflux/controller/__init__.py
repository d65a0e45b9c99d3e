"""Controller runtime and the reconcilers (ISB service, local Deployment/StatefulSet; Pipeline and Vertex
join through `manager.CONTROLLER_MODULES`).

Writing a controller: a class with `async reconcile(key) -> Result` that reads from informer caches;
a module-level `setup(manager)` that builds it with `manager.informer(kind)`, wraps it in a
`Controller`, declares watches (`watch_primary`, `watch_owned`, `watch`) and `manager.add(...)`s it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numaflux.controller.cache import Store, controller_ref, object_key, split_key
    from numaflux.controller.children import apply_child
    from numaflux.controller.clock import Clock, ManualClock, SystemClock
    from numaflux.controller.config import ControllerConfig, LeaderConfig, Mode
    from numaflux.controller.controller import Controller, Reconciler, Result, TerminalError, owner_mapper
    from numaflux.controller.events import EventRecorder
    from numaflux.controller.informer import Informer, InformerFactory
    from numaflux.controller.kube import Kind, KubeClient, is_conflict, is_not_found
    from numaflux.controller.leader import LeaderElector
    from numaflux.controller.manager import CONTROLLER_MODULES, Manager
    from numaflux.controller.ownership import owned, owner_reference
    from numaflux.controller.status import merge_patch, update_status
    from numaflux.controller.workqueue import ExponentialBackoff, WorkQueue

# Imported on first use, so that importing a submodule (e.g. from a pod's entry point) stays cheap.
_EXPORTS: dict[str, str] = {
    "Store": "cache",
    "controller_ref": "cache",
    "object_key": "cache",
    "split_key": "cache",
    "apply_child": "children",
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "ControllerConfig": "config",
    "Mode": "config",
    "Controller": "controller",
    "Reconciler": "controller",
    "Result": "controller",
    "TerminalError": "controller",
    "owner_mapper": "controller",
    "EventRecorder": "events",
    "Informer": "informer",
    "InformerFactory": "informer",
    "Kind": "kube",
    "KubeClient": "kube",
    "is_conflict": "kube",
    "is_not_found": "kube",
    "LeaderConfig": "config",
    "LeaderElector": "leader",
    "CONTROLLER_MODULES": "manager",
    "Manager": "manager",
    "owned": "ownership",
    "owner_reference": "ownership",
    "merge_patch": "status",
    "update_status": "status",
    "ExponentialBackoff": "workqueue",
    "WorkQueue": "workqueue",
}

__all__ = [
    "CONTROLLER_MODULES",
    "Clock",
    "Controller",
    "ControllerConfig",
    "EventRecorder",
    "ExponentialBackoff",
    "Informer",
    "InformerFactory",
    "Kind",
    "KubeClient",
    "LeaderConfig",
    "LeaderElector",
    "Manager",
    "ManualClock",
    "Mode",
    "Reconciler",
    "Result",
    "Store",
    "SystemClock",
    "TerminalError",
    "WorkQueue",
    "apply_child",
    "controller_ref",
    "is_conflict",
    "is_not_found",
    "merge_patch",
    "object_key",
    "owned",
    "owner_mapper",
    "owner_reference",
    "split_key",
    "update_status",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'numaflux.controller' has no attribute {name!r}")
    return getattr(importlib.import_module(f"numaflux.controller.{module}"), name)
