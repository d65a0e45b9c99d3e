"""Where the local cluster keeps its state."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DIR = "NUMAFLUX_DIR"


def default_data_dir() -> Path:
    """`$NUMAFLUX_DIR`, or `~/.numaflux/local`."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".numaflux" / "local"


def kubeconfig_path(data_dir: Path) -> Path:
    """The kubeconfig the API server writes on start."""
    return data_dir / "kubeconfig"


def run_dir(data_dir: Path) -> Path:
    """Pid files of the running components."""
    return data_dir / "run"


def controller_metrics_path(data_dir: Path) -> Path:
    """Written by the controller manager: the URL it serves /metrics at."""
    return run_dir(data_dir) / "controller.metrics"


def log_dir(data_dir: Path) -> Path:
    """Logs of the components themselves (pods log elsewhere)."""
    return data_dir / "logs"
