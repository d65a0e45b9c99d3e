"""What the ISB service controller renders: Kubernetes mode (StatefulSet, Service, ConfigMap), local mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from numaflux.api import InterStepBufferService
from numaflux.controller.isbsvc import kubernetes, local
from numaflux.controller.isbsvc.common import buffer_config, headless_service

OWNER = {
    "apiVersion": "numaflow.numaproj.io/v1alpha1",
    "kind": "InterStepBufferService",
    "metadata": {"name": "default", "namespace": "team", "uid": "u-1"},
}
LABELS = {
    "app.kubernetes.io/component": "isbsvc",
    "app.kubernetes.io/managed-by": "isbsvc-controller",
    "app.kubernetes.io/part-of": "numaflow",
    "numaflow.numaproj.io/isbsvc-name": "default",
    "numaflow.numaproj.io/isbsvc-type": "jetstream",
}
META = {
    "namespace": "team",
    "labels": LABELS,
    "ownerReferences": [
        {
            "apiVersion": "numaflow.numaproj.io/v1alpha1",
            "kind": "InterStepBufferService",
            "name": "default",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ],
}
CONFIG_MOUNTS = [
    {"name": "config-volume", "mountPath": "/etc/nats-config"},
    {"name": "pid", "mountPath": "/var/run/nats"},
]
HEALTH = {"path": "/healthz?js-enabled-only=true", "port": 8222}


def isb(**jetstream: Any) -> InterStepBufferService:
    return InterStepBufferService.model_validate({**OWNER, "spec": {"jetstream": jetstream}})


def test_kubernetes_statefulset_has_nats_reloader_and_metrics_containers_and_a_volume_claim() -> None:
    svc = isb(
        version="2.10.11",
        persistence={"storageClassName": "fast", "volumeSize": "3Gi"},
        containerTemplate={"env": [{"name": "GOMEMLIMIT", "value": "1GiB"}]},
    )
    assert kubernetes.statefulset(svc, OWNER) == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "isbsvc-default-js", **META},
        "spec": {
            "replicas": 3,
            "serviceName": "isbsvc-default-js-svc",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "shareProcessNamespace": True,
                    "terminationGracePeriodSeconds": 120,
                    "containers": [
                        {
                            "name": "main",
                            "image": "nats:2.10.11",
                            "args": ["--config", "/etc/nats-config/nats-js.conf"],
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                                {
                                    "name": "POD_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                                {
                                    "name": "CLUSTER_ADVERTISE",
                                    "value": "$(POD_NAME).isbsvc-default-js-svc.$(POD_NAMESPACE).svc",
                                },
                                {"name": "GOMEMLIMIT", "value": "1GiB"},
                            ],
                            "ports": [
                                {"name": "client", "containerPort": 4222},
                                {"name": "cluster", "containerPort": 6222},
                                {"name": "monitor", "containerPort": 8222},
                            ],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                            "volumeMounts": [
                                *CONFIG_MOUNTS,
                                {"name": "isbsvc-default-js-vol", "mountPath": "/data/jetstream"},
                            ],
                            "startupProbe": {
                                "httpGet": HEALTH,
                                "initialDelaySeconds": 1,
                                "periodSeconds": 3,
                                "failureThreshold": 30,
                            },
                            "livenessProbe": {
                                "httpGet": HEALTH,
                                "initialDelaySeconds": 10,
                                "periodSeconds": 30,
                                "timeoutSeconds": 5,
                            },
                            "lifecycle": {
                                "preStop": {
                                    "exec": {"command": ["nats-server", "-sl=ldm=/var/run/nats/nats.pid"]}
                                }
                            },
                        },
                        {
                            "name": "reloader",
                            "image": "natsio/nats-server-config-reloader:0.14.0",
                            "args": [
                                "-pid",
                                "/var/run/nats/nats.pid",
                                "-config",
                                "/etc/nats-config/nats-js.conf",
                            ],
                            "volumeMounts": CONFIG_MOUNTS,
                        },
                        {
                            "name": "metrics",
                            "image": "natsio/prometheus-nats-exporter:0.14.0",
                            "args": [
                                "-connz",
                                "-routez",
                                "-subz",
                                "-varz",
                                "-prefix=nats",
                                "-use_internal_server_id",
                                "-jsz=all",
                                "http://localhost:8222",
                            ],
                            "ports": [{"name": "metrics", "containerPort": 7777}],
                        },
                    ],
                    "volumes": [
                        {"name": "config-volume", "configMap": {"name": "isbsvc-default-js-config"}},
                        {"name": "pid", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "isbsvc-default-js-vol"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "3Gi"}},
                        "storageClassName": "fast",
                    },
                }
            ],
        },
    }


def test_two_replicas_become_three_and_one_replica_has_no_cluster_block() -> None:
    assert kubernetes.statefulset(isb(replicas=2), OWNER)["spec"]["replicas"] == 3
    single = isb(replicas=1)
    assert kubernetes.statefulset(single, OWNER)["spec"]["replicas"] == 1
    assert "cluster {" not in kubernetes.nats_conf(single)


def test_kubernetes_config_map_carries_nats_conf_with_routes_and_setting_overrides() -> None:
    svc = isb(settings="max_payload: 2097152\nmax_file_store: 10GB\nwrite_deadline: 5s\n")
    assert kubernetes.config_map(svc, OWNER) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "isbsvc-default-js-config", **META},
        "data": {
            "nats-js.conf": "port: 4222\n"
            'pid_file: "/var/run/nats/nats.pid"\n'
            "http: 8222\n"
            "server_name: $POD_NAME\n"
            "lame_duck_duration: 120s\n"
            "max_payload: 2097152\n"
            "cluster {\n"
            "  name: isbsvc-default-js\n"
            "  port: 6222\n"
            "  routes: [nats://isbsvc-default-js-0.isbsvc-default-js-svc.team.svc:6222, "
            "nats://isbsvc-default-js-1.isbsvc-default-js-svc.team.svc:6222, "
            "nats://isbsvc-default-js-2.isbsvc-default-js-svc.team.svc:6222]\n"
            "  cluster_advertise: $CLUSTER_ADVERTISE\n"
            "  connect_retries: 120\n"
            "}\n"
            "jetstream {\n"
            "  store_dir: /data/jetstream/store\n"
            "  max_memory_store: -1\n"
            "  max_file_store: 10GB\n"
            "}\n"
        },
    }


def test_headless_service_exposes_client_cluster_monitor_and_metrics_ports() -> None:
    assert headless_service(isb(), OWNER) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "isbsvc-default-js-svc", **META},
        "spec": {
            "clusterIP": "None",
            "ports": [
                {"name": "tcp-client", "port": 4222, "protocol": "TCP", "targetPort": 4222},
                {"name": "cluster", "port": 6222, "protocol": "TCP", "targetPort": 6222},
                {"name": "monitor", "port": 8222, "protocol": "TCP", "targetPort": 8222},
                {"name": "metrics", "port": 7777, "protocol": "TCP", "targetPort": 7777},
            ],
            "selector": LABELS,
        },
    }


def test_local_statefulset_runs_one_server_on_the_pod_ip_with_data_on_the_host(tmp_path: Path) -> None:
    sts = local.statefulset(isb(replicas=5), OWNER, "quay.io/numaproj/numaflow:local", tmp_path)
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "Parallel"
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "quay.io/numaproj/numaflow:local"
    assert container["command"] == ["python", "-m", "numaflux.isb.server"]
    assert container["args"] == [
        "--store",
        "/data/jetstream/$(POD_NAME)",
        "--host",
        "$(POD_IP)",
        "--port",
        "4222",
        "--monitor-port",
        "8222",
    ]
    assert pod["volumes"] == [
        {
            "name": "data",
            "hostPath": {"path": str(tmp_path / "team" / "default"), "type": "DirectoryOrCreate"},
        }
    ]
    assert container["readinessProbe"]["httpGet"] == HEALTH


def test_buffer_config_merges_overrides_over_defaults_and_caps_replicas_at_the_server_count() -> None:
    svc = isb(bufferConfig=yaml.safe_dump({"stream": {"maxMsgs": 5000}, "consumer": {"maxAckPending": 100}}))
    merged = buffer_config(svc, servers=1)
    assert merged["stream"]["maxMsgs"] == 5000
    assert merged["stream"]["maxAge"] == "72h"
    assert merged["consumer"] == {"ackWait": "60s", "maxAckPending": 100}
    assert [merged[s]["replicas"] for s in ("stream", "otBucket", "procBucket")] == [1, 1, 1]
    assert buffer_config(svc, servers=3)["stream"]["replicas"] == 3
