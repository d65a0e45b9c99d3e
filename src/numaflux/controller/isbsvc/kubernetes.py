"""Kubernetes installer: what a real cluster needs for a JetStream ISB service (NumaFlow's layout).

StatefulSet `isbsvc-{name}-js` (containers `main` nats-server, `reloader`, `metrics`; Parallel pod
management; 120 s termination grace), headless Service `isbsvc-{name}-js-svc`, ConfigMap
`isbsvc-{name}-js-config` with `nats-js.conf`, PVC template `isbsvc-{name}-js-vol`. Clients connect to
`nats://isbsvc-{name}-js-svc.{namespace}.svc:4222`. Authentication and TLS secrets are not rendered.
"""

from __future__ import annotations

import re

from numaflux.api import InterStepBufferService, naming
from numaflux.api import constants as c
from numaflux.api.container import ContainerTemplate
from numaflux.controller.isbsvc.common import child_meta, selector_labels
from numaflux.controller.kube import JSON

NATS_IMAGE = "nats"
RELOADER_IMAGE = "natsio/nats-server-config-reloader:0.14.0"
METRICS_IMAGE = "natsio/prometheus-nats-exporter:0.14.0"
DEFAULT_VERSION = "latest"
CONFIG_FILE = "nats-js.conf"
CONFIG_DIR = "/etc/nats-config"
PID_DIR = "/var/run/nats"
DATA_DIR = "/data/jetstream"
TERMINATION_GRACE_SECONDS = 120
DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}}
DEFAULT_SETTINGS = {"max_payload": "1048576", "max_memory_store": "-1", "max_file_store": "1TB"}
OVERRIDABLE = tuple(DEFAULT_SETTINGS)


def settings(isb: InterStepBufferService) -> dict[str, str]:
    """max_payload / max_memory_store / max_file_store: defaults overridden by `spec.jetstream.settings`."""
    out = dict(DEFAULT_SETTINGS)
    text = isb.spec.jetstream.settings if isb.spec.jetstream else None
    for line in (text or "").splitlines():
        match = re.match(r"\s*([a-z_]+)\s*[:=]\s*(\S+)\s*$", line)
        if match and match.group(1) in OVERRIDABLE:
            out[match.group(1)] = match.group(2).strip("\"'")
    return out


def nats_conf(isb: InterStepBufferService) -> str:
    """The server configuration; a `cluster` block with routes to every peer when replicas > 1."""
    js = isb.spec.jetstream
    replicas = js.get_replicas() if js else c.DEFAULT_JETSTREAM_REPLICAS
    s = settings(isb)
    lines = [
        f"port: {c.JETSTREAM_CLIENT_PORT}",
        f'pid_file: "{PID_DIR}/nats.pid"',
        f"http: {c.JETSTREAM_MONITOR_PORT}",
        "server_name: $POD_NAME",
        "lame_duck_duration: 120s",
        f"max_payload: {s['max_payload']}",
    ]
    if replicas > 1:
        svc = f"{isb.headless_service_name()}.{isb.namespace}.svc"
        routes = ", ".join(
            f"nats://{isb.statefulset_name()}-{i}.{svc}:{c.JETSTREAM_CLUSTER_PORT}" for i in range(replicas)
        )
        lines += [
            "cluster {",
            f"  name: {isb.statefulset_name()}",
            f"  port: {c.JETSTREAM_CLUSTER_PORT}",
            f"  routes: [{routes}]",
            "  cluster_advertise: $CLUSTER_ADVERTISE",
            "  connect_retries: 120",
            "}",
        ]
    lines += [
        "jetstream {",
        f"  store_dir: {DATA_DIR}/store",
        f"  max_memory_store: {s['max_memory_store']}",
        f"  max_file_store: {s['max_file_store']}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def config_map(isb: InterStepBufferService, owner: JSON) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_meta(isb, owner, isb.config_map_name()),
        "data": {CONFIG_FILE: nats_conf(isb)},
    }


def _template(base: JSON, template: ContainerTemplate | None) -> JSON:
    """A ContainerTemplate's fields over a container (its env is appended, not substituted)."""
    if template is None:
        return base
    dumped = template.model_dump(by_alias=True, exclude_none=True)
    env = dumped.pop("env", None)
    out = {**base, **dumped}
    if env:
        out["env"] = [*(base.get("env") or []), *env]
    return out


def statefulset(isb: InterStepBufferService, owner: JSON) -> JSON:
    """The StatefulSet with its three containers and the PVC template."""
    js = isb.spec.jetstream
    assert js is not None
    version = js.version or DEFAULT_VERSION
    mounts = [
        {"name": "config-volume", "mountPath": CONFIG_DIR},
        {"name": "pid", "mountPath": PID_DIR},
    ]
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "CLUSTER_ADVERTISE",
            "value": f"$(POD_NAME).{isb.headless_service_name()}.$(POD_NAMESPACE).svc",
        },
    ]
    main = _template(
        {
            "name": "main",
            "image": f"{NATS_IMAGE}:{version}",
            "args": ["--config", f"{CONFIG_DIR}/{CONFIG_FILE}", *(js.start_args or [])],
            "env": env,
            "ports": [
                {"name": "client", "containerPort": c.JETSTREAM_CLIENT_PORT},
                {"name": "cluster", "containerPort": c.JETSTREAM_CLUSTER_PORT},
                {"name": "monitor", "containerPort": c.JETSTREAM_MONITOR_PORT},
            ],
            "resources": DEFAULT_RESOURCES,
            "volumeMounts": [*mounts, {"name": isb_pvc_name(isb), "mountPath": DATA_DIR}],
            "startupProbe": {
                "httpGet": {"path": "/healthz?js-enabled-only=true", "port": c.JETSTREAM_MONITOR_PORT},
                "initialDelaySeconds": 1,
                "periodSeconds": 3,
                "failureThreshold": 30,
            },
            "livenessProbe": {
                "httpGet": {"path": "/healthz?js-enabled-only=true", "port": c.JETSTREAM_MONITOR_PORT},
                "initialDelaySeconds": 10,
                "periodSeconds": 30,
                "timeoutSeconds": 5,
            },
            "lifecycle": {"preStop": {"exec": {"command": ["nats-server", f"-sl=ldm={PID_DIR}/nats.pid"]}}},
        },
        js.container_template,
    )
    reloader = _template(
        {
            "name": "reloader",
            "image": RELOADER_IMAGE,
            "args": ["-pid", f"{PID_DIR}/nats.pid", "-config", f"{CONFIG_DIR}/{CONFIG_FILE}"],
            "volumeMounts": mounts,
        },
        js.reloader_container_template,
    )
    metrics = _template(
        {
            "name": "metrics",
            "image": METRICS_IMAGE,
            "args": [
                "-connz",
                "-routez",
                "-subz",
                "-varz",
                "-prefix=nats",
                "-use_internal_server_id",
                "-jsz=all",
                f"http://localhost:{c.JETSTREAM_MONITOR_PORT}",
            ],
            "ports": [{"name": "metrics", "containerPort": c.JETSTREAM_METRICS_PORT}],
        },
        js.metrics_container_template,
    )
    labels = selector_labels(isb)
    pod_meta: JSON = {"labels": {**labels, **((js.metadata.labels if js.metadata else None) or {})}}
    if js.metadata and js.metadata.annotations:
        pod_meta["annotations"] = dict(js.metadata.annotations)
    pod_spec: JSON = {
        "shareProcessNamespace": True,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "containers": [main, reloader, metrics],
        "volumes": [
            {"name": "config-volume", "configMap": {"name": isb.config_map_name()}},
            {"name": "pid", "emptyDir": {}},
        ],
    }
    for field in (
        "node_selector",
        "tolerations",
        "security_context",
        "image_pull_secrets",
        "priority_class_name",
        "priority",
        "affinity",
        "service_account_name",
        "runtime_class_name",
    ):
        value = getattr(js, field)
        if value is not None:
            pod_spec[_camel(field)] = value
    persistence = js.persistence
    claim: JSON = {
        "metadata": {"name": isb_pvc_name(isb)},
        "spec": {
            "accessModes": [
                persistence.get_access_mode() if persistence else c.DEFAULT_PERSISTENCE_ACCESS_MODE
            ],
            "resources": {
                "requests": {
                    "storage": persistence.get_volume_size()
                    if persistence
                    else c.DEFAULT_PERSISTENCE_VOLUME_SIZE
                }
            },
        },
    }
    if persistence and persistence.storage_class_name:
        claim["spec"]["storageClassName"] = persistence.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": child_meta(isb, owner, isb.statefulset_name()),
        "spec": {
            "replicas": js.get_replicas(),
            "serviceName": isb.headless_service_name(),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {"metadata": pod_meta, "spec": pod_spec},
            "volumeClaimTemplates": [claim],
        },
    }


def isb_pvc_name(isb: InterStepBufferService) -> str:
    return naming.isb_pvc_template_name(isb.name)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)
