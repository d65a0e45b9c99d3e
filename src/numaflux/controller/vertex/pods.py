"""The pods (and services) of a Vertex, built from the Vertex object alone (NumaFlow §4).

A pod runs our own image ``quay.io/numaproj/numaflow:<version>`` as the main container ``numa``; the
local kubelet runs that repository as ``python -m numaflux <args>``, so the args are ``["vertex"]``.
User containers (UDF, UD source/transformer, UD sinks) are native sidecars — init containers with
``restartPolicy: Always`` — sharing the ``var-run-numaflow`` emptyDir at /var/run/numaflow, where
pynumaflow binds its sockets. Probes are plain HTTP on 2469 (NumaFlow uses HTTPS with a self-signed
certificate; numaflux's vertex process serves HTTP).

The env contract is the one ``numaflux.dataplane.config.load_config`` reads: NUMAFLOW_VERTEX_OBJECT,
NUMAFLOW_ISBSVC_* (from the ISB service status), NUMAFLOW_REPLICA / _POD / _NAMESPACE /
_PIPELINE_NAME / _VERTEX_NAME, and NUMAFLUX_HTTP_SOURCE_TOKEN (from the HTTP source's token secret).
NumaFlow's CPU/memory resourceFieldRef variables are left out: nothing in numaflux reads them.
"""

from __future__ import annotations

import random
import string
from typing import Any

from numaflux.api import Container, Vertex, naming
from numaflux.api import constants as c
from numaflux.api.envcodec import encode_object
from numaflux.controller.pipeline.build import stable_hash
from numaflux.controller.pipeline.workload import (
    PART_OF,
    apply_container_template,
    controller_ref,
    http_probe,
    pod_template_fields,
)

IMAGE_REPOSITORY = "quay.io/numaproj/numaflow"
MAIN_CONTAINER = "numa"
VAR_RUN_VOLUME = "var-run-numaflow"
VAR_RUN_PATH = "/var/run/numaflow"
PBQ_VOLUME = "pbq-vol"
PBQ_PATH = "/var/numaflow/pbq"
KEY_DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

ENV_VERTEX_OBJECT = "NUMAFLOW_VERTEX_OBJECT"
ENV_READ_AHEAD = "NUMAFLOW_READ_AHEAD"
ENV_UD_CONTAINER_TYPE = "NUMAFLOW_UD_CONTAINER_TYPE"
ENV_HTTP_SOURCE_TOKEN = "NUMAFLUX_HTTP_SOURCE_TOKEN"

UD_UDF = "udf"
UD_SINK = "udsink"
UD_FALLBACK_SINK = "fb-udsink"
UD_ON_SUCCESS_SINK = "ons-udsink"
UD_SOURCE = "udsource"
UD_TRANSFORMER = "transformer"


def own_image(version: str) -> str:
    """Our image at ``version`` (any tag runs this package locally)."""
    return f"{IMAGE_REPOSITORY}:{version}"


def random_suffix(rng: random.Random | None = None) -> str:
    """5 random lowercase letters/digits, the last part of a pod name."""
    chooser = rng or random.SystemRandom()
    return "".join(chooser.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def vertex_object_env(vertex: Vertex) -> str:
    """NUMAFLOW_VERTEX_OBJECT: the vertex with replicas 0 and lifecycle/updateStrategy cleared and only
    name/namespace as metadata — identical for every replica, and unchanged by scaling or pause."""
    spec = vertex.spec.model_copy(deep=True)
    spec.replicas = 0
    spec.lifecycle = None
    spec.update_strategy = None
    return encode_object(
        {
            "apiVersion": c.GROUP_VERSION,
            "kind": c.KIND_VERTEX,
            "metadata": {"name": vertex.name, "namespace": vertex.namespace},
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    )


def ud_containers(vertex: Vertex) -> list[tuple[str, Container]]:
    """(container name = NUMAFLOW_UD_CONTAINER_TYPE, container) for each user container."""
    spec = vertex.spec
    out: list[tuple[str, Container]] = []
    if spec.udf is not None and spec.udf.container is not None:
        out.append((UD_UDF, spec.udf.container))
    if spec.source is not None:
        if spec.source.udsource is not None and spec.source.udsource.container is not None:
            out.append((UD_SOURCE, spec.source.udsource.container))
        if spec.source.transformer is not None and spec.source.transformer.container is not None:
            out.append((UD_TRANSFORMER, spec.source.transformer.container))
    if spec.sink is not None:
        for name, sink in (
            (UD_SINK, spec.sink),
            (UD_FALLBACK_SINK, spec.sink.fallback),
            (UD_ON_SUCCESS_SINK, spec.sink.on_success),
        ):
            if sink is not None and sink.udsink is not None and sink.udsink.container is not None:
                out.append((name, sink.udsink.container))
    return out


def default_container(vertex: Vertex) -> str:
    """What ``kubectl logs`` shows by default: the first user container, else ``numa``."""
    uds = ud_containers(vertex)
    return uds[0][0] if uds else MAIN_CONTAINER


def _var_run_mount() -> dict[str, Any]:
    return {"name": VAR_RUN_VOLUME, "mountPath": VAR_RUN_PATH}


def _ud_container(name: str, container: Container) -> dict[str, Any]:
    doc = container.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["name"] = name
    doc["env"] = [*doc.get("env", []), {"name": ENV_UD_CONTAINER_TYPE, "value": name}]
    doc["volumeMounts"] = [*doc.get("volumeMounts", []), _var_run_mount()]
    doc["restartPolicy"] = "Always"
    return doc


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _main_container(vertex: Vertex, isb_env: list[dict[str, Any]], image: str) -> dict[str, Any]:
    spec = vertex.spec
    env: list[dict[str, Any]] = [
        _field_env("NUMAFLOW_NAMESPACE", "metadata.namespace"),
        _field_env("NUMAFLOW_POD", "metadata.name"),
        _field_env("NUMAFLOW_REPLICA", f"metadata.annotations['{c.KEY_REPLICA}']"),
        {"name": "NUMAFLOW_PIPELINE_NAME", "value": spec.pipeline_name or ""},
        {"name": "NUMAFLOW_VERTEX_NAME", "value": spec.get_name()},
        {"name": ENV_VERTEX_OBJECT, "value": vertex_object_env(vertex)},
        {"name": ENV_READ_AHEAD, "value": "false" if vertex.is_source() else "true"},
        *isb_env,
    ]
    http = spec.source.http if spec.source is not None else None
    if http is not None and http.auth is not None and http.auth.token:
        env.append({"name": ENV_HTTP_SOURCE_TOKEN, "valueFrom": {"secretKeyRef": dict(http.auth.token)}})
    mounts = [_var_run_mount()]
    if _pbq_volume(vertex, 0) is not None:
        mounts.append({"name": PBQ_VOLUME, "mountPath": PBQ_PATH})
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "image": image,
        "args": ["vertex"],
        "env": env,
        "ports": [{"name": c.VERTEX_METRICS_PORT_NAME, "containerPort": c.VERTEX_METRICS_PORT}],
        # Readiness every second so a resumed vertex is Ready promptly; liveness as NumaFlow's.
        "readinessProbe": http_probe("/readyz", c.VERTEX_METRICS_PORT, 0, 1, 5, 6),
        "livenessProbe": http_probe("/livez", c.VERTEX_METRICS_PORT, 20, 60, 30, 5),
        "volumeMounts": mounts,
    }
    return apply_container_template(container, spec.container_template)


def pbq_claim_name(vertex: Vertex, replica: int) -> str:
    return f"pbq-vol-{vertex.spec.pipeline_name}-{vertex.spec.get_name()}-{replica}"


def build_pbq_claims(vertex: Vertex) -> list[dict[str, Any]]:
    """One PVC per partition for a reduce vertex with ``storage.persistentVolumeClaim`` (created once,
    never updated — NumaFlow ignores later changes too)."""
    udf = vertex.spec.udf
    storage = udf.group_by.storage if udf is not None and udf.group_by is not None else None
    pvc = storage.persistent_volume_claim if storage is not None else None
    if pvc is None:
        return []
    spec: dict[str, Any] = {
        "accessModes": [pvc.get_access_mode()],
        "resources": {"requests": {"storage": pvc.get_volume_size()}},
    }
    if pvc.storage_class_name:
        spec["storageClassName"] = pvc.storage_class_name
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": pbq_claim_name(vertex, i),
                "namespace": vertex.namespace,
                "labels": selector_labels(vertex),
                "ownerReferences": _owner(vertex),
            },
            "spec": spec,
        }
        for i in range(vertex.get_partition_count())
    ]


def _pbq_volume(vertex: Vertex, replica: int) -> dict[str, Any] | None:
    """Reduce storage: a per-replica PVC, an emptyDir, or nothing (``no_store`` / not a reduce)."""
    udf = vertex.spec.udf
    if udf is None or udf.group_by is None:
        return None
    storage = udf.group_by.storage
    if storage is not None and storage.no_store is not None:
        return None
    if storage is not None and storage.persistent_volume_claim is not None:
        return {"name": PBQ_VOLUME, "persistentVolumeClaim": {"claimName": pbq_claim_name(vertex, replica)}}
    empty = dict(storage.empty_dir) if storage is not None and storage.empty_dir else {}
    return {"name": PBQ_VOLUME, "emptyDir": empty}


def pod_spec(vertex: Vertex, isb_env: list[dict[str, Any]], image: str, replica: int = 0) -> dict[str, Any]:
    """The pod spec of one replica (the replica only matters for a reduce vertex's PVC)."""
    spec = vertex.spec
    init = [
        apply_container_template(dict(ic), spec.init_container_template) for ic in spec.init_containers or []
    ]
    sidecars = [_ud_container(name, ct) for name, ct in ud_containers(vertex)]
    sidecars += [{**sc, "restartPolicy": sc.get("restartPolicy", "Always")} for sc in spec.sidecars or []]
    volumes: list[dict[str, Any]] = [{"name": VAR_RUN_VOLUME, "emptyDir": {"medium": "Memory"}}]
    volumes += [dict(v) for v in spec.volumes or []]
    pbq = _pbq_volume(vertex, replica)
    if pbq is not None:
        volumes.append(pbq)
    out: dict[str, Any] = {
        **pod_template_fields(spec),
        "subdomain": naming.headless_service_name(vertex.name),
        "containers": [_main_container(vertex, isb_env, image)],
        "volumes": volumes,
    }
    if init or sidecars:
        out["initContainers"] = init + sidecars
    return out


def pod_spec_hash(vertex: Vertex, isb_env: list[dict[str, Any]], image: str) -> str:
    """``numaflow.numaproj.io/hash`` of the pods: the spec of replica 0 (no hostname, no replica count,
    no lifecycle), so scaling and pause/resume never roll pods."""
    return stable_hash(pod_spec(vertex, isb_env, image, 0))


def selector_labels(vertex: Vertex) -> dict[str, str]:
    return {
        **PART_OF,
        c.KEY_MANAGED_BY: c.MANAGED_BY_VERTEX_CONTROLLER,
        c.KEY_COMPONENT: c.COMPONENT_VERTEX,
        c.KEY_PIPELINE_NAME: vertex.spec.pipeline_name or "",
        c.KEY_VERTEX_NAME: vertex.spec.get_name(),
    }


def _owner(vertex: Vertex) -> list[dict[str, Any]]:
    return [controller_ref(c.GROUP_VERSION, c.KIND_VERTEX, vertex.name, vertex.metadata.uid)]


def build_pod(
    vertex: Vertex,
    replica: int,
    isb_env: list[dict[str, Any]],
    image: str,
    pod_hash: str,
    suffix: str,
) -> dict[str, Any]:
    """Pod ``{vertexCR}-{replica}-{suffix}`` with hostname ``{vertexCR}-{replica}`` under the headless
    service; ``pod_hash`` comes from ``pod_spec_hash``."""
    user = vertex.spec.metadata
    labels = {
        **((user.labels if user else None) or {}),
        **selector_labels(vertex),
        c.KEY_APP_NAME: vertex.name,
    }
    annotations = {
        **((user.annotations if user else None) or {}),
        c.KEY_HASH: pod_hash,
        c.KEY_REPLICA: str(replica),
        KEY_DEFAULT_CONTAINER: default_container(vertex),
    }
    spec = pod_spec(vertex, isb_env, image, replica)
    spec["hostname"] = naming.vertex_pod_hostname(vertex.name, replica)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{vertex.name}-{replica}-{suffix}",
            "namespace": vertex.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": _owner(vertex),
        },
        "spec": spec,
    }


def _service(vertex: Vertex, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    labels = selector_labels(vertex)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": vertex.namespace,
            "labels": labels,
            "annotations": {c.KEY_HASH: stable_hash(spec)},
            "ownerReferences": _owner(vertex),
        },
        "spec": spec,
    }


def build_headless_service(vertex: Vertex) -> dict[str, Any]:
    """``{vertexCR}-headless``: gives each pod the DNS name ``{hostname}.{vertexCR}-headless``."""
    spec = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "ports": [
            {
                "name": c.VERTEX_METRICS_PORT_NAME,
                "port": c.VERTEX_METRICS_PORT,
                "targetPort": c.VERTEX_METRICS_PORT,
            },
            {"name": "runtime", "port": c.VERTEX_RUNTIME_PORT, "targetPort": c.VERTEX_RUNTIME_PORT},
        ],
        "selector": selector_labels(vertex),
    }
    return _service(vertex, naming.headless_service_name(vertex.name), spec)


def build_http_source_service(vertex: Vertex) -> dict[str, Any] | None:
    """``{vertexCR}`` for an HTTP source with ``service: true`` (https port, plus http when set)."""
    http = vertex.spec.source.http if vertex.spec.source is not None else None
    if http is None or not http.service:
        return None
    ports = [{"name": "https", "port": http.get_https_port(), "targetPort": http.get_https_port()}]
    plain = http.get_http_port()
    if plain is not None:
        ports.append({"name": "http", "port": plain, "targetPort": plain})
    return _service(vertex, vertex.name, {"ports": ports, "selector": selector_labels(vertex)})


def vertex_services(vertex: Vertex) -> list[dict[str, Any]]:
    """Every Service the vertex wants; others labelled as its services are stale."""
    out = [build_headless_service(vertex)]
    http = build_http_source_service(vertex)
    if http is not None:
        out.append(http)
    return out
