"""meta.k8s.io/v1 Table responses for `kubectl get`: printer columns of CRDs and of the built-in kinds.

Column JSONPaths support the subset CRDs use in practice: `.a.b.c`, `.a[0].b`, `.a[*].b` and filters
`.conditions[?(@.type=="Ready")].status`. Age columns (type date) print as Kubernetes short durations.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from numaflux.apiserver.resources import ResourceType

JSON = dict[str, Any]

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-/]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def evaluate(obj: Any, path: str) -> list[Any]:
    """Values found at a JSONPath-lite expression (possibly several when `[*]` or a filter is used)."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    if expr.startswith("$"):
        expr = expr[1:]
    values = [obj]
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            return []
        pos = match.end()
        name, index, filter_field, filter_value = match.groups()
        nxt: list[Any] = []
        for value in values:
            if name is not None:
                if isinstance(value, dict) and name in value:
                    nxt.append(value[name])
            elif index is not None:
                if isinstance(value, list):
                    if index == "*":
                        nxt.extend(value)
                    elif int(index) < len(value):
                        nxt.append(value[int(index)])
            elif isinstance(value, list):
                for item in value:
                    found = evaluate(item, "." + filter_field)
                    if found and str(found[0]) == filter_value:
                        nxt.append(item)
        values = nxt
    return values


def human_duration(delta: dt.timedelta) -> str:
    """Kubernetes' short duration format (as in the AGE column)."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days % 365 < 365 * 8 else f"{days // 365}y"


def age(obj: JSON, now: dt.datetime) -> str:
    """Age of an object from metadata.creationTimestamp."""
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    return human_duration(now - _parse_time(created))


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cell(values: list[Any], column_type: str, now: dt.datetime) -> Any:
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(_text(v) for v in values)
    if column_type == "date" and isinstance(value, str):
        try:
            return human_duration(now - _parse_time(value))
        except ValueError:
            return value
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, int | float):
        return value
    if column_type == "boolean" and isinstance(value, bool):
        return value
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def _col(name: str, kind: str = "string", priority: int = 0, description: str = "", fmt: str = "") -> JSON:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", fmt="name", description="Name must be unique within a namespace.")
_AGE = _col(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _pod_status(pod: JSON) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len((pod.get('spec') or {}).get('initContainers') or [])}"
        break
    else:
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(pod: JSON, now: dt.datetime) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        _pod_status(pod),
        restarts,
        age(pod, now),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
    ]


def _deploy_row(obj: JSON, now: dt.datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj, now),
    ]


def _sts_row(obj: JSON, now: dt.datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        age(obj, now),
    ]


def _svc_row(obj: JSON, now: dt.datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    ports = (
        ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    )
    return [
        obj["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        "<none>",
        ports,
        age(obj, now),
    ]


def _node_row(obj: JSON, now: dt.datetime) -> list[Any]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    version = ((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [obj["metadata"]["name"], state, "<none>", age(obj, now), version]


def _event_row(obj: JSON, now: dt.datetime) -> list[Any]:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    seen = human_duration(now - _parse_time(last)) if last else "<unknown>"
    return [
        seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}",
        obj.get("message") or obj.get("note") or "",
    ]


_BUILTIN: dict[str, tuple[list[JSON], Callable[[JSON, dt.datetime], list[Any]]]] = {
    "/pods": (
        [
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "string"),
            _AGE,
            _col("IP", priority=1),
            _col("Node", priority=1),
        ],
        _pod_row,
    ),
    "apps/deployments": (
        [_NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _AGE],
        _deploy_row,
    ),
    "apps/statefulsets": ([_NAME, _col("Ready"), _AGE], _sts_row),
    "/services": (
        [_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _AGE],
        _svc_row,
    ),
    "/nodes": ([_NAME, _col("Status"), _col("Roles"), _AGE, _col("Version")], _node_row),
    "/namespaces": (
        [_NAME, _col("Status"), _AGE],
        lambda o, now: [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), age(o, now)],
    ),
    "/configmaps": (
        [_NAME, _col("Data", "integer"), _AGE],
        lambda o, now: [
            o["metadata"]["name"],
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            age(o, now),
        ],
    ),
    "/secrets": (
        [_NAME, _col("Type"), _col("Data", "integer"), _AGE],
        lambda o, now: [
            o["metadata"]["name"],
            o.get("type", "Opaque"),
            len(o.get("data") or {}),
            age(o, now),
        ],
    ),
    "/serviceaccounts": (
        [_NAME, _col("Secrets", "integer"), _AGE],
        lambda o, now: [o["metadata"]["name"], len(o.get("secrets") or []), age(o, now)],
    ),
    "/events": (
        [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
        _event_row,
    ),
    "coordination.k8s.io/leases": (
        [_NAME, _col("Holder"), _AGE],
        lambda o, now: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""), age(o, now)],
    ),
    "apiextensions.k8s.io/customresourcedefinitions": (
        [_NAME, _col("Created At", "date")],
        lambda o, now: [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")],
    ),
}


def columns_for(rt: ResourceType) -> list[JSON]:
    """Column definitions of a resource's table."""
    if rt.crd_name is not None:
        custom = [
            _col(
                c["name"],
                c.get("type", "string"),
                int(c.get("priority", 0)),
                c.get("description", ""),
                c.get("format", ""),
            )
            for c in rt.printer_columns
        ]
        if not any(c["name"].lower() == "age" for c in custom):
            custom.append(_AGE)
        return [_NAME, *custom]
    if rt.rid in _BUILTIN:
        return _BUILTIN[rt.rid][0]
    return [_NAME, _AGE]


def row_cells(rt: ResourceType, obj: JSON, now: dt.datetime) -> list[Any]:
    """Cells of one object's row, in the order of columns_for(rt)."""
    if rt.crd_name is not None:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in rt.printer_columns:
            cells.append(_cell(evaluate(obj, column.get("jsonPath", "")), column.get("type", "string"), now))
        if not any(c["name"].lower() == "age" for c in rt.printer_columns):
            cells.append(age(obj, now))
        return cells
    if rt.rid in _BUILTIN:
        return _BUILTIN[rt.rid][1](obj, now)
    return [obj["metadata"]["name"], age(obj, now)]


def partial_metadata(obj: JSON) -> JSON:
    """The PartialObjectMetadata kubectl receives in each row by default."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    rt: ResourceType,
    objects: list[JSON],
    now: dt.datetime,
    include: str = "Metadata",
    list_meta: JSON | None = None,
    with_columns: bool = True,
) -> JSON:
    """A meta.k8s.io/v1 Table of the objects; `include` is the includeObject parameter."""
    rows = []
    for obj in objects:
        row: JSON = {"cells": row_cells(rt, obj, now)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": columns_for(rt) if with_columns else [],
        "rows": rows,
    }
