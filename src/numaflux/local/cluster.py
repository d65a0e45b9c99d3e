"""The local cluster's components, in start order, and how each one reports ready."""

from __future__ import annotations

import base64
import importlib.util
import ssl
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from numaflux.local import paths
from numaflux.local.supervisor import Component, python_module


def read_kubeconfig(data_dir: Path) -> tuple[str, str, bytes]:
    """(server URL, bearer token, CA PEM) of the local API server; raises OSError/KeyError if absent."""
    config: dict[str, Any] = yaml.safe_load(paths.kubeconfig_path(data_dir).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    return cluster["server"], user["token"], base64.b64decode(cluster["certificate-authority-data"])


def api_server_ready(data_dir: Path) -> bool:
    """The API server answers /readyz over TLS with the kubeconfig's CA and token."""
    try:
        server, token, ca = read_kubeconfig(data_dir)
    except (OSError, KeyError, IndexError, TypeError, ValueError, yaml.YAMLError):
        return False
    with tempfile.NamedTemporaryFile(suffix=".pem") as ca_file:
        ca_file.write(ca)
        ca_file.flush()
        context = ssl.create_default_context(cafile=ca_file.name)
    request = urllib.request.Request(f"{server}/readyz", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=1.0, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def kubelet_ready(data_dir: Path) -> bool:
    """The kubelet agent registered its Node."""
    from numaflux.kubelet.agent import is_ready

    return is_ready(data_dir)


def controller_ready(data_dir: Path) -> bool:
    """The controller manager holds the leader lease and its informers are synced."""
    return (paths.run_dir(data_dir) / "controller.ready").exists()


def controller_metrics_url(data_dir: Path) -> str | None:
    """Where the running controller manager serves /metrics (None before it started serving)."""
    try:
        return paths.controller_metrics_path(data_dir).read_text().strip() or None
    except OSError:
        return None


def components(data_dir: Path) -> list[Component]:
    """Components in start order (stop order is the reverse)."""
    directory = str(data_dir)
    kubeconfig = str(paths.kubeconfig_path(data_dir))
    found = [
        Component("apiserver", python_module("numaflux.apiserver", "--dir", directory), api_server_ready),
        Component(
            "kubelet",
            python_module("numaflux.kubelet", "--dir", directory, "--kubeconfig", kubeconfig),
            kubelet_ready,
        ),
    ]
    if importlib.util.find_spec("numaflux.cli.controller") is not None:
        found.append(
            Component(
                "controller",
                python_module(
                    "numaflux", "controller", "--kubeconfig", kubeconfig, "--local-data-dir", directory
                ),
                controller_ready,
            )
        )
    return found
