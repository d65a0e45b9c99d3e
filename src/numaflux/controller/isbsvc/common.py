"""What both installers share: labels, ports, the buffer configuration published in status."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from numaflux.api import InterStepBufferService
from numaflux.api import constants as c
from numaflux.controller.kube import JSON
from numaflux.controller.ownership import owner_reference

ISB_TYPE = "jetstream"

DEFAULT_BUFFER_CONFIG: JSON = {
    "stream": {
        "retention": 0,
        "maxMsgs": 100000,
        "maxAge": "72h",
        "maxBytes": -1,
        "storage": 0,
        "replicas": 3,
        "duplicates": "60s",
    },
    "consumer": {"ackWait": "60s", "maxAckPending": 25000},
    "otBucket": {"history": 1, "ttl": "3h", "maxValueSize": 0, "maxBytes": 0, "storage": 0, "replicas": 3},
    "procBucket": {"history": 1, "ttl": "72h", "maxValueSize": 0, "maxBytes": 0, "storage": 0, "replicas": 3},
}
"""NumaFlow's controller defaults (numaflow-controller-config.yaml), overridden by spec.bufferConfig."""


def selector_labels(isb: InterStepBufferService) -> dict[str, str]:
    return {
        c.KEY_COMPONENT: c.COMPONENT_ISB_SERVICE,
        c.KEY_MANAGED_BY: c.MANAGED_BY_ISB_SERVICE_CONTROLLER,
        c.KEY_PART_OF: c.PART_OF_VALUE,
        c.KEY_ISB_SERVICE_NAME: isb.name,
        c.KEY_ISB_SERVICE_TYPE: ISB_TYPE,
    }


def child_meta(isb: InterStepBufferService, owner: JSON, name: str) -> JSON:
    return {
        "name": name,
        "namespace": isb.namespace,
        "labels": selector_labels(isb),
        "ownerReferences": [owner_reference(owner)],
    }


def headless_service(isb: InterStepBufferService, owner: JSON) -> JSON:
    """`isbsvc-{name}-js-svc`: client, cluster, monitor and metrics ports, no cluster IP."""
    ports = [
        ("tcp-client", c.JETSTREAM_CLIENT_PORT),
        ("cluster", c.JETSTREAM_CLUSTER_PORT),
        ("monitor", c.JETSTREAM_MONITOR_PORT),
        ("metrics", c.JETSTREAM_METRICS_PORT),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_meta(isb, owner, isb.headless_service_name()),
        "spec": {
            "clusterIP": "None",
            "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in ports],
            "selector": selector_labels(isb),
        },
    }


def _merge(base: JSON, over: JSON) -> JSON:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def buffer_config(isb: InterStepBufferService, servers: int) -> JSON:
    """Controller defaults merged with spec.bufferConfig; stream/bucket replicas at most `servers`."""
    js = isb.spec.jetstream
    overrides: Any = yaml.safe_load(js.buffer_config) if js is not None and js.buffer_config else {}
    if not isinstance(overrides, dict):
        raise ValueError("spec.jetstream.bufferConfig: must be a YAML mapping")
    merged = _merge(DEFAULT_BUFFER_CONFIG, overrides)
    for section in ("stream", "otBucket", "procBucket"):
        part = merged.get(section)
        if isinstance(part, dict) and isinstance(part.get("replicas"), int):
            part["replicas"] = max(1, min(part["replicas"], servers))
    return merged


def stream_config_yaml(config: JSON) -> str:
    return yaml.safe_dump(config, sort_keys=True)
