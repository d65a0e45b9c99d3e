"""A container's environment: base variables, env/envFrom with fieldRef, resourceFieldRef, secret and
ConfigMap references, and Kubernetes `$(VAR)` expansion."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from numaflux.kubelet.quantity import ceil_divide, parse_quantity
from numaflux.kubelet.resolver import ObjectResolver

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ContainerConfigError(Exception):
    """The container cannot be configured yet (waiting reason CreateContainerConfigError)."""


def base_environment() -> dict[str, str]:
    """The only variables a container inherits from the kubelet.

    PATH (the kubelet's virtualenv `bin` first, then the standard system path), HOME, LANG (C.UTF-8 when
    the kubelet has none) and VIRTUAL_ENV when the kubelet runs from a virtualenv.
    """
    env: dict[str, str] = {}
    path = SYSTEM_PATH
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
        path = f"{sys.prefix}/bin:{path}"
    env["PATH"] = path
    env["HOME"] = os.environ.get("HOME", "/root")
    env["LANG"] = os.environ.get("LANG", "C.UTF-8")
    return env


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes variable expansion: `$(NAME)` → value if defined (else kept), `$$` → `$`."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env[name] if name in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\[['\"](.+)['\"]\]$")


def field_value(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """Value of a downward-API `fieldRef.fieldPath`."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName") or spec.get("serviceAccount") or "default",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _SUBSCRIPT.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise ContainerConfigError(f"fieldRef: unsupported fieldPath {path!r}")


def resource_value(pod: Mapping[str, Any], default_container: str, ref: Mapping[str, Any]) -> str:
    """Value of a `resourceFieldRef`: the container's request or limit, the node's capacity when unset."""
    name = ref.get("containerName") or default_container
    resource = str(ref.get("resource", ""))
    containers = list((pod.get("spec") or {}).get("containers") or [])
    containers += list((pod.get("spec") or {}).get("initContainers") or [])
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise ContainerConfigError(f"resourceFieldRef: no container named {name!r}")
    kind, _, res = resource.partition(".")
    if kind not in ("limits", "requests") or res not in ("cpu", "memory", "ephemeral-storage"):
        raise ContainerConfigError(f"resourceFieldRef: unsupported resource {resource!r}")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(res)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(res)
    if raw is not None:
        value = parse_quantity(raw)
    else:
        # An unset request reads 0; an unset limit reads the node's capacity.
        value = Fraction(0) if kind == "requests" else _node_capacity(res)
    divisor = parse_quantity(ref.get("divisor") or 1)
    if divisor == 0:
        divisor = Fraction(1)
    return str(ceil_divide(value, divisor))


def _node_capacity(resource: str) -> Fraction:
    if resource == "cpu":
        return Fraction(os.cpu_count() or 1)
    if resource == "memory":
        return Fraction(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    stat = os.statvfs("/")
    return Fraction(stat.f_bavail * stat.f_frsize)


async def container_environment(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    host_ip: str,
    resolver: ObjectResolver,
) -> dict[str, str]:
    """The variables a container declares (envFrom first, then env), expanded in order."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        data = await _env_from(namespace, source, resolver)
        for key, raw in (data or {}).items():
            env[prefix + key] = raw.decode("utf-8", errors="replace")
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var or var.get("value") is not None:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        value = await _value_from(pod, container, namespace, var["valueFrom"], pod_ip, host_ip, resolver)
        if value is not None:
            env[name] = value
    return env


async def _env_from(
    namespace: str, source: Mapping[str, Any], resolver: ObjectResolver
) -> dict[str, bytes] | None:
    if "configMapRef" in source:
        ref, kind = source["configMapRef"], "configmap"
        data = await resolver.config_map(namespace, ref["name"])
    elif "secretRef" in source:
        ref, kind = source["secretRef"], "secret"
        data = await resolver.secret(namespace, ref["name"])
    else:
        raise ContainerConfigError(f"envFrom: unsupported source {sorted(source)}")
    if data is None and not ref.get("optional"):
        raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
    return data


async def _value_from(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    namespace: str,
    source: Mapping[str, Any],
    pod_ip: str,
    host_ip: str,
    resolver: ObjectResolver,
) -> str | None:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
    if "resourceFieldRef" in source:
        return resource_value(pod, str(container.get("name")), source["resourceFieldRef"])
    if "configMapKeyRef" in source:
        ref, kind = source["configMapKeyRef"], "configmap"
        data = await resolver.config_map(namespace, ref["name"])
    elif "secretKeyRef" in source:
        ref, kind = source["secretKeyRef"], "secret"
        data = await resolver.secret(namespace, ref["name"])
    else:
        raise ContainerConfigError(f"valueFrom: unsupported source {sorted(source)}")
    optional = bool(ref.get("optional"))
    if data is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
    if ref["key"] not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    return data[ref["key"]].decode("utf-8", errors="replace")
