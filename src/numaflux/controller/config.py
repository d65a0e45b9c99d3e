"""How the controller manager runs: local or Kubernetes rendering, namespace, leader election."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


def _default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaderConfig:
    """Lease `namespace/name` and NumaFlow's timings (15 s lease, 10 s renew deadline, 2 s retry)."""

    name: str = "numaflux-controller-lock"
    namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=_default_identity)


OWN_IMAGE = "quay.io/numaproj/numaflow:local"
"""The image the local kubelet runs as this package (any tag of quay.io/numaproj/numaflow works)."""


class Mode(StrEnum):
    """LOCAL: children are built for the local kubelet (pods as processes, hostPath data, pod-IP URLs)
    and numaflux runs the Deployment/StatefulSet controllers itself. KUBERNETES: children are what a
    real cluster needs (NATS image, PVCs, Service DNS URLs)."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class ControllerConfig:
    mode: Mode = Mode.LOCAL
    local_data_dir: Path | None = None
    """Local mode: the cluster's data directory (ISB data under `isbsvc/`, ready file under `run/`)."""
    namespace: str | None = None
    """Watch only this namespace (None: all)."""
    leader_elect: bool = True
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    workers: int = 2
    """Concurrent reconciles per controller (never two for the same key)."""
    own_image: str = OWN_IMAGE
    install_crds: bool = False
    """Create or update the NumaFlow CRDs at start (local mode does, so a fresh cluster just works)."""
    shutdown_timeout: float = 30.0
    metrics_port: int | None = None
    """Port of the manager's Prometheus `/metrics` (0: any free port; None: off). `numaflux controller`
    serves NumaFlow's 9090 unless told otherwise."""
    metrics_host: str | None = None
    """Address `/metrics` binds (None: loopback in local mode, every interface on Kubernetes)."""

    def get_metrics_host(self) -> str:
        if self.metrics_host is not None:
            return self.metrics_host
        return "127.0.0.1" if self.mode is Mode.LOCAL else "0.0.0.0"  # scraped from other pods

    def metrics_address_file(self) -> Path | None:
        """`DIR/run/controller.metrics`: the URL `/metrics` is served at (local mode only)."""
        from numaflux.local.paths import controller_metrics_path

        return controller_metrics_path(self.local_data_dir) if self.local_data_dir else None

    def isb_data_dir(self) -> Path:
        """Where local ISB services keep JetStream data (survives pod and controller restarts)."""
        if self.local_data_dir is None:
            raise ValueError("local_data_dir: required in local mode (ISB service data lives there)")
        return self.local_data_dir / "isbsvc"

    def ready_file(self) -> Path | None:
        """`DIR/run/controller.ready` while leading with synced caches (local mode only)."""
        return self.local_data_dir / "run" / "controller.ready" if self.local_data_dir else None
