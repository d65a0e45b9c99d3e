"""Local installer: one nats-server with JetStream, run by the local kubelet as a pod process.

The pod runs `python -m numaflux.isb.server` through numaflux's own image, bound to the pod's own
loopback address (`$(POD_IP)`), and keeps JetStream data on a hostPath volume under the cluster's
data directory (`{data}/isbsvc/{namespace}/{name}/{pod}`), so messages survive pod, kubelet and
controller restarts; the data is removed when the InterStepBufferService is deleted.

Local mode always runs a single server: a JetStream cluster needs its peers' addresses up front, which
per-pod loopback addresses cannot give; `spec.jetstream.replicas` is honoured by the Kubernetes
installer only, and stream/bucket replicas are capped at 1 here.
"""

from __future__ import annotations

from pathlib import Path

from numaflux.api import InterStepBufferService
from numaflux.api import constants as c
from numaflux.controller.isbsvc.common import child_meta, selector_labels
from numaflux.controller.kube import JSON

LOCAL_REPLICAS = 1
DATA_MOUNT = "/data/jetstream"
HEALTH_PATH = "/healthz?js-enabled-only=true"


def data_dir(base: Path, isb: InterStepBufferService) -> Path:
    """Host directory with the JetStream stores of the service's pods."""
    return base / isb.namespace / isb.name


def statefulset(isb: InterStepBufferService, owner: JSON, image: str, base: Path) -> JSON:
    """The local StatefulSet `isbsvc-{name}-js`."""
    js = isb.spec.jetstream
    resources = (js.container_template.resources if js and js.container_template else None) or {}
    container: JSON = {
        "name": "main",
        "image": image,
        "command": ["python", "-m", "numaflux.isb.server"],
        "args": [
            "--store",
            f"{DATA_MOUNT}/$(POD_NAME)",
            "--host",
            "$(POD_IP)",
            "--port",
            str(c.JETSTREAM_CLIENT_PORT),
            "--monitor-port",
            str(c.JETSTREAM_MONITOR_PORT),
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [
            {"name": "client", "containerPort": c.JETSTREAM_CLIENT_PORT},
            {"name": "monitor", "containerPort": c.JETSTREAM_MONITOR_PORT},
        ],
        "readinessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": c.JETSTREAM_MONITOR_PORT},
            "periodSeconds": 1,
            "failureThreshold": 3,
        },
        "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
    }
    if resources:
        container["resources"] = resources
    labels = selector_labels(isb)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": child_meta(isb, owner, isb.statefulset_name()),
        "spec": {
            "replicas": LOCAL_REPLICAS,
            "serviceName": isb.headless_service_name(),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "data",
                            "hostPath": {"path": str(data_dir(base, isb)), "type": "DirectoryOrCreate"},
                        }
                    ],
                },
            },
        },
    }
