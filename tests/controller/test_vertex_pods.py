"""Vertex pods and services: names, labels, env contract with the data plane, sidecars, stable hash."""

from __future__ import annotations

import random
from typing import Any

import pytest

from numaflux.api import Pipeline, Vertex, VertexLifecycle
from numaflux.api import constants as c
from numaflux.api.source import HTTPSourcePorts
from numaflux.controller.pipeline.build import build_vertices
from numaflux.controller.vertex.pods import (
    build_headless_service,
    build_http_source_service,
    build_pod,
    own_image,
    pod_spec,
    pod_spec_hash,
    random_suffix,
    vertex_services,
)
from numaflux.dataplane.config import load_config

IMAGE = own_image("v1.8.3")
ISB = [
    {"name": "NUMAFLOW_ISBSVC_TYPE", "value": "jetstream"},
    {"name": "NUMAFLOW_ISBSVC_JETSTREAM_URL", "value": "nats://127.0.0.1:4222"},
    {"name": "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED", "value": "false"},
]


def vertices(**extra: Any) -> dict[str, Vertex]:
    spec: dict[str, Any] = {
        "vertices": [
            {
                "name": "in",
                "source": {
                    "http": {"service": True, "auth": {"token": {"name": "sec", "key": "tok"}}},
                    "transformer": {"container": {"image": "tf"}},
                },
            },
            {
                "name": "cat",
                "udf": {"container": {"image": "cat", "args": ["-v"], "env": [{"name": "A", "value": "1"}]}},
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
                "sidecars": [{"name": "proxy", "image": "p"}],
                "initContainers": [{"name": "setup", "image": "s"}],
                "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
                "nodeSelector": {"zone": "a"},
            },
            {
                "name": "red",
                "udf": {
                    "container": {"image": "r"},
                    "groupBy": {
                        "keyed": True,
                        "window": {"fixed": {"length": "60s"}},
                        "storage": {"persistentVolumeClaim": {}},
                    },
                },
                "partitions": 2,
            },
            {
                "name": "out",
                "sink": {
                    "udsink": {"container": {"image": "s"}},
                    "fallback": {"udsink": {"container": {"image": "fb"}}},
                },
            },
        ],
        "edges": [{"from": "in", "to": "cat"}, {"from": "cat", "to": "red"}, {"from": "red", "to": "out"}],
        **extra,
    }
    pl = Pipeline.model_validate({"metadata": {"name": "pl", "namespace": "ns"}, "spec": spec})
    out = {}
    for v in build_vertices(pl):
        v.metadata.uid = f"uid-{v.spec.get_name()}"
        out[v.spec.get_name()] = v
    return out


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_pod_is_named_by_replica_and_suffix_under_the_headless_service() -> None:
    cat = vertices()["cat"]
    h = pod_spec_hash(cat, ISB, IMAGE)
    pod = build_pod(cat, 2, ISB, IMAGE, h, "ab3de")
    assert pod["metadata"]["name"] == "pl-cat-2-ab3de"
    assert pod["spec"]["hostname"] == "pl-cat-2"
    assert pod["spec"]["subdomain"] == "pl-cat-headless"
    assert pod["metadata"]["labels"] == {
        "team": "a",
        c.KEY_PART_OF: "numaflow",
        c.KEY_MANAGED_BY: "vertex-controller",
        c.KEY_COMPONENT: "vertex",
        c.KEY_PIPELINE_NAME: "pl",
        c.KEY_VERTEX_NAME: "cat",
        c.KEY_APP_NAME: "pl-cat",
    }
    assert pod["metadata"]["annotations"] == {
        "note": "x",
        c.KEY_HASH: h,
        c.KEY_REPLICA: "2",
        "kubectl.kubernetes.io/default-container": "udf",
    }
    assert pod["metadata"]["ownerReferences"] == [
        {
            "apiVersion": c.GROUP_VERSION,
            "kind": "Vertex",
            "name": "pl-cat",
            "uid": "uid-cat",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert pod["spec"]["nodeSelector"] == {"zone": "a"}


def test_main_container_runs_our_image_as_numaflux_vertex_with_probes_on_2469() -> None:
    pod = build_pod(vertices()["cat"], 0, ISB, IMAGE, "h", "aaaaa")
    (main,) = pod["spec"]["containers"]
    assert (main["name"], main["image"], main["args"]) == (
        "numa",
        "quay.io/numaproj/numaflow:v1.8.3",
        ["vertex"],
    )
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 2469, "scheme": "HTTP"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 2469, "scheme": "HTTP"}
    assert main["volumeMounts"] == [{"name": "var-run-numaflow", "mountPath": "/var/run/numaflow"}]
    env = env_of(main)
    assert env["NUMAFLOW_REPLICA"] == {"fieldRef": {"fieldPath": f"metadata.annotations['{c.KEY_REPLICA}']"}}
    assert env["NUMAFLOW_POD"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["NUMAFLOW_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert (env["NUMAFLOW_PIPELINE_NAME"], env["NUMAFLOW_VERTEX_NAME"], env["NUMAFLOW_READ_AHEAD"]) == (
        "pl",
        "cat",
        "true",
    )
    assert env["NUMAFLOW_ISBSVC_JETSTREAM_URL"] == "nats://127.0.0.1:4222"


def test_the_data_plane_reads_the_env_the_controller_writes() -> None:
    cat = vertices()["cat"]
    main = build_pod(cat, 1, ISB, IMAGE, "h", "aaaaa")["spec"]["containers"][0]
    resolved = {k: v for k, v in env_of(main).items() if isinstance(v, str)}
    resolved.update({"NUMAFLOW_REPLICA": "1", "NUMAFLOW_POD": "pl-cat-1-aaaaa", "NUMAFLOW_NAMESPACE": "ns"})
    config = load_config(resolved)
    assert (config.vertex_name, config.pipeline, config.namespace, config.replica) == ("cat", "pl", "ns", 1)
    assert config.isb_url == "nats://127.0.0.1:4222"
    assert config.vertex.spec.replicas == 0 and config.vertex.spec.lifecycle is None
    assert config.vertex.spec.udf == cat.spec.udf


def test_user_containers_are_native_sidecars_sharing_var_run_numaflow() -> None:
    spec = pod_spec(vertices()["cat"], ISB, IMAGE)
    names = [ic["name"] for ic in spec["initContainers"]]
    assert names == ["setup", "udf", "proxy"]
    udf = spec["initContainers"][1]
    assert (udf["image"], udf["args"], udf["restartPolicy"]) == ("cat", ["-v"], "Always")
    assert env_of(udf) == {"A": "1", "NUMAFLOW_UD_CONTAINER_TYPE": "udf"}
    assert {"name": "var-run-numaflow", "mountPath": "/var/run/numaflow"} in udf["volumeMounts"]
    assert spec["initContainers"][2]["restartPolicy"] == "Always"
    assert "restartPolicy" not in spec["initContainers"][0]
    assert spec["volumes"] == [
        {"name": "var-run-numaflow", "emptyDir": {"medium": "Memory"}},
        {"name": "cfg", "configMap": {"name": "c"}},
    ]


def test_sink_and_fallback_and_source_containers_get_their_types() -> None:
    vs = vertices()
    out = pod_spec(vs["out"], ISB, IMAGE)
    assert [(ic["name"], env_of(ic)["NUMAFLOW_UD_CONTAINER_TYPE"]) for ic in out["initContainers"]] == [
        ("udsink", "udsink"),
        ("fb-udsink", "fb-udsink"),
    ]
    src = build_pod(vs["in"], 0, ISB, IMAGE, "h", "aaaaa")
    assert [ic["name"] for ic in src["spec"]["initContainers"]] == ["transformer"]
    assert src["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "transformer"
    main_env = env_of(src["spec"]["containers"][0])
    assert main_env["NUMAFLOW_READ_AHEAD"] == "false"
    assert main_env["NUMAFLUX_HTTP_SOURCE_TOKEN"] == {"secretKeyRef": {"name": "sec", "key": "tok"}}


def test_reduce_pods_mount_a_per_replica_claim_without_changing_the_hash_input() -> None:
    red = vertices()["red"]
    pod = build_pod(red, 1, ISB, IMAGE, "h", "aaaaa")
    assert {"name": "pbq-vol", "persistentVolumeClaim": {"claimName": "pbq-vol-pl-red-1"}} in pod["spec"][
        "volumes"
    ]
    assert {"name": "pbq-vol", "mountPath": "/var/numaflow/pbq"} in pod["spec"]["containers"][0][
        "volumeMounts"
    ]


def test_pod_hash_ignores_replicas_and_lifecycle_but_follows_the_spec_and_isb() -> None:
    cat = vertices()["cat"]
    h = pod_spec_hash(cat, ISB, IMAGE)
    scaled = cat.model_copy(deep=True)
    scaled.spec.replicas, scaled.spec.lifecycle = 7, VertexLifecycle(desired_phase="Paused")
    assert pod_spec_hash(scaled, ISB, IMAGE) == h
    changed = cat.model_copy(deep=True)
    changed.spec.udf.container.args = ["-q"]  # type: ignore[union-attr]
    assert pod_spec_hash(changed, ISB, IMAGE) != h
    moved = [*ISB[:1], {"name": "NUMAFLOW_ISBSVC_JETSTREAM_URL", "value": "nats://127.0.0.2:4222"}, *ISB[2:]]
    assert pod_spec_hash(cat, moved, IMAGE) != h
    assert pod_spec_hash(cat, ISB, own_image("v2")) != h


def test_random_suffix_is_five_lowercase_alphanumerics() -> None:
    s = random_suffix(random.Random(1))
    assert len(s) == 5 and s.isalnum() and s == s.lower()
    assert random_suffix(random.Random(1)) == s


def test_headless_service_selects_the_vertex_pods_and_publishes_not_ready_addresses() -> None:
    svc = build_headless_service(vertices()["cat"])
    assert svc["metadata"]["name"] == "pl-cat-headless"
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"] is True
    assert [p["port"] for p in svc["spec"]["ports"]] == [2469, 2470]
    assert svc["spec"]["selector"] == {
        c.KEY_PART_OF: "numaflow",
        c.KEY_MANAGED_BY: "vertex-controller",
        c.KEY_COMPONENT: "vertex",
        c.KEY_PIPELINE_NAME: "pl",
        c.KEY_VERTEX_NAME: "cat",
    }
    assert svc["metadata"]["annotations"][c.KEY_HASH]


@pytest.mark.parametrize(("ports", "expected"), [(None, [8443]), ({"http": 8090}, [8443, 8090])])
def test_http_source_service_exists_only_when_asked(
    ports: dict[str, int] | None, expected: list[int]
) -> None:
    vs = vertices()
    src = vs["in"].model_copy(deep=True)
    if ports is not None:
        src.spec.source.http.ports = HTTPSourcePorts.model_validate(ports)  # type: ignore[union-attr]
    svc = build_http_source_service(src)
    assert svc is not None and svc["metadata"]["name"] == "pl-in"
    assert [p["port"] for p in svc["spec"]["ports"]] == expected
    assert build_http_source_service(vs["cat"]) is None
    assert [s["metadata"]["name"] for s in vertex_services(vs["in"])] == ["pl-in-headless", "pl-in"]
