"""Pieces every pod the controllers build shares: ISB env, pod-template fields, container templates."""

from __future__ import annotations

import copy
from typing import Any

from numaflux.api import AbstractPodTemplate, ContainerTemplate, InterStepBufferService
from numaflux.api import constants as c

ENV_ISBSVC_TYPE = "NUMAFLOW_ISBSVC_TYPE"
ENV_JETSTREAM_URL = "NUMAFLOW_ISBSVC_JETSTREAM_URL"
ENV_JETSTREAM_TLS = "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED"
ENV_JETSTREAM_USER = "NUMAFLOW_ISBSVC_JETSTREAM_USER"
ENV_JETSTREAM_PASSWORD = "NUMAFLOW_ISBSVC_JETSTREAM_PASSWORD"
ISB_TYPE_JETSTREAM = "jetstream"


class IsbNotReady(ValueError):
    """The ISB service has no client URL in its status yet."""


def isb_env(isb: InterStepBufferService) -> list[dict[str, Any]]:
    """Env that points a vertex or daemon container at the ISB service (from ``status.config.jetstream``)."""
    config = isb.status.config if isb.status else None
    js = config.jetstream if config else None
    if js is None or not js.url:
        raise IsbNotReady(f"isbsvc {isb.name}: status.config.jetstream.url is not set yet")
    env: list[dict[str, Any]] = [
        {"name": ENV_ISBSVC_TYPE, "value": ISB_TYPE_JETSTREAM},
        {"name": ENV_JETSTREAM_URL, "value": js.url},
        {"name": ENV_JETSTREAM_TLS, "value": "true" if js.tls_enabled else "false"},
    ]
    basic = (js.auth or {}).get("basic") or {}
    for name, key in ((ENV_JETSTREAM_USER, "user"), (ENV_JETSTREAM_PASSWORD, "password")):
        if basic.get(key):
            env.append({"name": name, "valueFrom": {"secretKeyRef": copy.deepcopy(basic[key])}})
    return env


_POD_FIELDS = (
    "nodeSelector",
    "tolerations",
    "securityContext",
    "imagePullSecrets",
    "priorityClassName",
    "priority",
    "affinity",
    "serviceAccountName",
    "runtimeClassName",
    "automountServiceAccountToken",
    "dnsPolicy",
    "dnsConfig",
    "resourceClaims",
)


def pod_template_fields(tpl: AbstractPodTemplate | None) -> dict[str, Any]:
    """The pod-spec fields set in ``tpl`` (nodeSelector, tolerations, affinity, ...)."""
    if tpl is None:
        return {}
    doc = tpl.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {k: doc[k] for k in _POD_FIELDS if k in doc}


def apply_container_template(container: dict[str, Any], tpl: ContainerTemplate | None) -> dict[str, Any]:
    """Overlay a ``containerTemplate``: resources, pull policy, security context, probes replace; env and
    envFrom are appended."""
    if tpl is None:
        return container
    doc = tpl.model_dump(mode="json", by_alias=True, exclude_none=True)
    out = dict(container)
    for key in ("resources", "imagePullPolicy", "securityContext", "readinessProbe", "livenessProbe"):
        if key in doc:
            out[key] = doc[key]
    for key in ("env", "envFrom"):
        if doc.get(key):
            out[key] = [*out.get(key, []), *doc[key]]
    return out


def controller_ref(api_version: str, kind: str, name: str, uid: str | None) -> dict[str, Any]:
    """A controller ownerReference that blocks the owner's foreground deletion."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def http_probe(
    path: str, port: int, initial: int, period: int, timeout: int, failures: int
) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


PART_OF = {c.KEY_PART_OF: c.PART_OF_VALUE}
