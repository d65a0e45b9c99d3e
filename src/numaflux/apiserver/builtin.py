"""Defaults and validation of the built-in kinds (the subset the local cluster needs).

Each function takes the object about to be stored (already a private copy) and the previous object on
update (None on create), fills server-side defaults and returns Status causes for invalid fields.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from numaflux.apiserver.errors import field_cause
from numaflux.apiserver.selectors import labels_match, parse_label_selector, selector_from_label_selector

JSON = dict[str, Any]
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
Admit = Callable[[JSON, JSON | None, "AdmitContext"], list[JSON]]


class AdmitContext:
    """What admission needs besides the object: other objects of the same kind (for IP allocation)."""

    def __init__(self, service_ips: set[str]) -> None:
        self.service_ips = service_ips


def _namespace(obj: JSON, old: JSON | None, ctx: AdmitContext) -> list[JSON]:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    spec = obj.setdefault("spec", {})
    if old is None:
        spec.setdefault("finalizers", ["kubernetes"])
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Active")
    return []


def _container_defaults(container: JSON) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    container.setdefault(
        "imagePullPolicy", "Always" if not tagged or image.endswith(":latest") else "IfNotPresent"
    )
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def _pod_spec_defaults(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            _container_defaults(container)


def _pod_spec_causes(spec: JSON, prefix: str) -> list[JSON]:
    causes = []
    containers = spec.get("containers")
    if not containers:
        causes.append(field_cause(f"{prefix}.containers", "FieldValueRequired", "Required value"))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            where = f"{prefix}.{key}[{i}]"
            name = container.get("name")
            if not name:
                causes.append(field_cause(f"{where}.name", "FieldValueRequired", "Required value"))
            elif not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
                causes.append(
                    field_cause(
                        f"{where}.name",
                        "FieldValueInvalid",
                        f"Invalid value: {name!r}: a lowercase RFC 1123 label must consist of lower "
                        "case alphanumeric characters or '-', and must start and end with an alphanumeric "
                        "character",
                    )
                )
            elif name in seen:
                causes.append(
                    field_cause(f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"')
                )
            seen.add(str(name))
            if not container.get("image"):
                causes.append(field_cause(f"{where}.image", "FieldValueRequired", "Required value"))
    return causes


_POD_MUTABLE_SPEC = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)


def _strip_images(spec: JSON) -> JSON:
    out = {k: v for k, v in spec.items() if k not in _POD_MUTABLE_SPEC}
    for key in ("initContainers", "containers"):
        if key in out:
            out[key] = [{k: v for k, v in c.items() if k != "image"} for c in out[key]]
    return out


def _pod(obj: JSON, old: JSON | None, ctx: AdmitContext) -> list[JSON]:
    spec = obj.setdefault("spec", {})
    _pod_spec_defaults(spec)
    causes = _pod_spec_causes(spec, "spec")
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    else:
        before = dict(old.get("spec") or {})
        after = dict(spec)
        if not before.get("nodeName") and after.get("nodeName"):
            before["nodeName"] = after["nodeName"]
        if _strip_images(before) != _strip_images(after):
            causes.append(
                field_cause(
                    "spec",
                    "FieldValueForbidden",
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                    "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` "
                    "(only additions to existing tolerations), `spec.terminationGracePeriodSeconds`",
                )
            )
    return causes


SERVICE_NETWORK = ipaddress.IPv4Network("10.96.0.0/16")


def _next_service_ip(used: set[str]) -> str:
    """The lowest free host address of the service network (10.96.0.1 is the API server's)."""
    first = int(SERVICE_NETWORK.network_address) + 2
    for number in range(first, int(SERVICE_NETWORK.broadcast_address)):
        text = f"{number >> 24}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
        if text not in used:
            return text
    raise RuntimeError("service IP range 10.96.0.0/16 is exhausted")


def _service(obj: JSON, old: JSON | None, ctx: AdmitContext) -> list[JSON]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if old is not None and "clusterIP" not in spec:
        spec["clusterIP"] = (old.get("spec") or {}).get("clusterIP")
    if old is not None and (old.get("spec") or {}).get("clusterIP") not in (None, spec.get("clusterIP")):
        return [field_cause("spec.clusterIP", "FieldValueInvalid", "Invalid value: field is immutable")]
    if spec.get("type") != "ExternalName":
        requested = spec.get("clusterIP")
        if old is None and requested not in (None, "", "None") and requested in ctx.service_ips:
            return [
                field_cause(
                    "spec.clusterIPs",
                    "FieldValueInvalid",
                    f'Invalid value: []string{{"{requested}"}}: failed to allocate IP {requested}: '
                    "provided IP is already allocated",
                )
            ]
        if not requested:
            spec["clusterIP"] = _next_service_ip(ctx.service_ips)
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    causes = []
    for i, port in enumerate(spec.get("ports") or []):
        port.setdefault("protocol", "TCP")
        if "port" not in port:
            causes.append(field_cause(f"spec.ports[{i}].port", "FieldValueRequired", "Required value"))
        port.setdefault("targetPort", port.get("port"))
    if old is None:
        obj["status"] = {"loadBalancer": {}}
    return causes


def _secret(obj: JSON, old: JSON | None, ctx: AdmitContext) -> list[JSON]:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    data = obj.setdefault("data", {}) if (string_data or "data" in obj) else {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    causes = []
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append(
                field_cause(f"data[{key}]", "FieldValueInvalid", "Invalid value: illegal base64 data")
            )
    if old is not None and old.get("type", "Opaque") != obj["type"]:
        causes.append(field_cause("type", "FieldValueInvalid", "Invalid value: field is immutable"))
    return causes


def _workload(obj: JSON, old: JSON | None, kind: str) -> list[JSON]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            spec["strategy"].setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
    else:
        spec.setdefault("podManagementPolicy", "OrderedReady")
        update = spec.setdefault("updateStrategy", {})
        update.setdefault("type", "RollingUpdate")
        if update["type"] == "RollingUpdate":
            update.setdefault("rollingUpdate", {"partition": 0})
    template = spec.setdefault("template", {})
    pod_spec = template.setdefault("spec", {})
    _pod_spec_defaults(pod_spec)
    causes = _pod_spec_causes(pod_spec, "spec.template.spec")
    selector = spec.get("selector")
    if not selector:
        causes.append(field_cause("spec.selector", "FieldValueRequired", "Required value"))
    else:
        requirements = parse_label_selector(selector_from_label_selector(selector))
        labels = (template.get("metadata") or {}).get("labels")
        if not labels_match(requirements, labels):
            causes.append(
                field_cause(
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    "Invalid value: `selector` does not match template `labels`",
                )
            )
        if old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(
                field_cause("spec.selector", "FieldValueInvalid", "Invalid value: field is immutable")
            )
    if old is None:
        obj["status"] = {}
    return causes


ADMIT: dict[str, Admit] = {
    "/namespaces": _namespace,
    "/pods": _pod,
    "/services": _service,
    "/secrets": _secret,
    "apps/deployments": lambda obj, old, ctx: _workload(obj, old, "Deployment"),
    "apps/statefulsets": lambda obj, old, ctx: _workload(obj, old, "StatefulSet"),
}
