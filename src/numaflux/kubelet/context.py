"""What every container of a pod shares: the pod object, its address, volumes and the kubelet's settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numaflux.kubelet import paths
from numaflux.kubelet.backoff import BackoffPolicy
from numaflux.kubelet.resolver import ObjectResolver
from numaflux.kubelet.sandbox import MountPoints

EventSink = Callable[[str, str, str, str], None]
"""(type Normal|Warning, reason, message, fieldPath) → None."""


@dataclass
class PodContext:
    """One pod's environment as the container runners see it."""

    data_dir: Path
    pod: dict[str, Any]
    pod_ip: str
    host_ip: str
    resolver: ObjectResolver
    image_map: Callable[[], Mapping[str, list[str]]]
    """Loads the merged image map (re-read for every container start)."""
    backoff: BackoffPolicy
    default_working_dir: str
    extra_env: Mapping[str, str]
    notify: Callable[[], None]
    event: EventSink
    mount_points: MountPoints
    volumes: dict[str, Path] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    on_pids: Callable[[], None] = lambda: None

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace", "default"))

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"].get("uid", ""))

    @property
    def restart_policy(self) -> str:
        return str(self.pod.get("spec", {}).get("restartPolicy") or "Always")

    @property
    def grace_period(self) -> float:
        """terminationGracePeriodSeconds of the spec (default 30)."""
        value = self.pod.get("spec", {}).get("terminationGracePeriodSeconds")
        return 30.0 if value is None else float(value)

    def log_path(self, container: str) -> Path:
        return paths.container_log_path(self.data_dir, self.namespace, self.name, container)

    def previous_log_path(self, container: str) -> Path:
        return paths.previous_container_log_path(self.data_dir, self.namespace, self.name, container)

    def private_run_dir(self) -> Path:
        return paths.private_run_dir(self.data_dir, self.namespace, self.name)

    def set_pid(self, container: str, pid: int | None) -> None:
        if pid is None:
            self.pids.pop(container, None)
        else:
            self.pids[container] = pid
        self.on_pids()
