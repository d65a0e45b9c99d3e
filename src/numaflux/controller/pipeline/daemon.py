"""The per-pipeline daemon: Deployment ``{pl}-daemon`` and Service ``{pl}-daemon-svc`` on port 4327.

The daemon runs our own image as ``numaflux daemon``; locally it serves plain HTTP (NumaFlow serves
HTTPS with a self-signed certificate), so the probes use scheme HTTP.
"""

from __future__ import annotations

from typing import Any

from numaflux.api import Pipeline
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

ENV_PIPELINE_OBJECT = "NUMAFLOW_PIPELINE_OBJECT"
DAEMON_CONTAINER = "main"
DAEMON_PORT_NAME = "tcp"


def daemon_labels(pl: Pipeline) -> dict[str, str]:
    return {
        **PART_OF,
        c.KEY_MANAGED_BY: c.MANAGED_BY_PIPELINE_CONTROLLER,
        c.KEY_COMPONENT: c.COMPONENT_DAEMON,
        c.KEY_PIPELINE_NAME: pl.name,
    }


def pipeline_object_env(pl: Pipeline) -> str:
    """``NUMAFLOW_PIPELINE_OBJECT``: base64 JSON of the pipeline with its lifecycle zeroed (pausing or
    resuming must not restart the daemon) and no status."""
    doc = pl.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
    doc["metadata"] = {"name": pl.name, "namespace": pl.namespace}
    doc["spec"].pop("lifecycle", None)
    return encode_object(doc)


def _owner(pl: Pipeline) -> list[dict[str, Any]]:
    return [controller_ref(c.GROUP_VERSION, c.KIND_PIPELINE, pl.name, pl.metadata.uid)]


def build_daemon_service(pl: Pipeline) -> dict[str, Any]:
    """``{pl}-daemon-svc`` → the daemon pods' port 4327."""
    labels = daemon_labels(pl)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": pl.daemon_service_name(),
            "namespace": pl.namespace,
            "labels": labels,
            "ownerReferences": _owner(pl),
        },
        "spec": {
            "ports": [
                {"name": DAEMON_PORT_NAME, "port": c.DAEMON_SERVICE_PORT, "targetPort": c.DAEMON_SERVICE_PORT}
            ],
            "selector": labels,
        },
    }


def build_daemon_deployment(pl: Pipeline, isb_env: list[dict[str, Any]], image: str) -> dict[str, Any]:
    """``{pl}-daemon`` running ``numaflux daemon``, with a hash annotation over its spec (NumaFlow
    deletes and recreates the Deployment when that hash changes)."""
    tpl = pl.spec.templates.daemon if pl.spec.templates else None
    labels = daemon_labels(pl)
    container: dict[str, Any] = {
        "name": DAEMON_CONTAINER,
        "image": image,
        "args": ["daemon"],
        "env": [
            {"name": ENV_PIPELINE_OBJECT, "value": pipeline_object_env(pl)},
            {"name": "NUMAFLOW_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "NUMAFLOW_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            *isb_env,
        ],
        "ports": [{"name": DAEMON_PORT_NAME, "containerPort": c.DAEMON_SERVICE_PORT}],
        "readinessProbe": http_probe("/readyz", c.DAEMON_SERVICE_PORT, 3, 3, 1, 3),
        "livenessProbe": http_probe("/livez", c.DAEMON_SERVICE_PORT, 30, 60, 30, 3),
    }
    container = apply_container_template(container, tpl.container_template if tpl else None)
    pod_meta: dict[str, Any] = {"labels": dict(labels)}
    if tpl is not None and tpl.metadata is not None:
        pod_meta["labels"] = {**(tpl.metadata.labels or {}), **labels}
        if tpl.metadata.annotations:
            pod_meta["annotations"] = dict(tpl.metadata.annotations)
    spec: dict[str, Any] = {
        "replicas": tpl.get_replicas() if tpl else 1,
        "selector": {"matchLabels": labels},
        "template": {"metadata": pod_meta, "spec": {**pod_template_fields(tpl), "containers": [container]}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": pl.daemon_deployment_name(),
            "namespace": pl.namespace,
            "labels": labels,
            "annotations": {c.KEY_HASH: stable_hash(spec)},
            "ownerReferences": _owner(pl),
        },
        "spec": spec,
    }
