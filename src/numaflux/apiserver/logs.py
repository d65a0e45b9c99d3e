"""pods/log: serves the container log files the local kubelet writes.

File convention (shared with numaflux.kubelet.paths):
    DIR/pods/{namespace}/{pod}/{container}.log     current instance of the container
    DIR/pods/{namespace}/{pod}/{container}.log.1   previous instance (`?previous=true`)
Supported parameters: container, follow, tailLines, limitBytes, previous, sinceSeconds (by file
modification time only: all or nothing), timestamps (ignored; files carry no per-line timestamps).
A follow stream ends when the client goes away, the pod is deleted (or replaced), the container's status
says it terminated, or the log file is replaced by a new container instance.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from numaflux.apiserver.core import Api
from numaflux.apiserver.errors import ApiError, bad_request, flag
from numaflux.apiserver.resources import POD_RID

JSON = dict[str, Any]
_FOLLOW_POLL = 0.1


def log_path(data_dir: Path, namespace: str, pod: str, container: str, previous: bool = False) -> Path:
    """Where the kubelet writes a container's log."""
    name = f"{container}.log.1" if previous else f"{container}.log"
    return Path(data_dir) / "pods" / namespace / pod / name


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def _int(query: Mapping[str, str], key: str) -> int | None:
    if key not in query or query[key] == "":
        return None
    try:
        return int(query[key])
    except ValueError as err:
        raise bad_request(f"{key}: invalid value {query[key]!r}") from err


def _pick_container(pod: JSON, wanted: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    name = pod["metadata"]["name"]
    if wanted:
        if wanted not in names and wanted not in init:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    if len(names) == 1:
        return str(names[0])
    choices = " ".join(str(n) for n in names)
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{choices}]")


def _waiting_reason(pod: JSON, container: str) -> str:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            return str(waiting.get("reason") or "ContainerCreating")
    return "ContainerCreating"


def _terminated(pod: JSON, container: str) -> bool:
    """Whether the kubelet reports the container's current instance as terminated."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return bool((cs.get("state") or {}).get("terminated"))
    return False


async def serve_log(
    request: web.Request, api: Api, data_dir: Path, namespace: str, name: str
) -> web.StreamResponse:
    """GET /api/v1/namespaces/{ns}/pods/{name}/log."""
    query = request.query
    pod = api.store.get(POD_RID, namespace, name)
    if pod is None:
        raise ApiError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
    container = _pick_container(pod, query.get("container"))
    previous = flag(query.get("previous"))
    follow = flag(query.get("follow")) and not previous
    tail_lines = _int(query, "tailLines")
    limit_bytes = _int(query, "limitBytes")
    since = _int(query, "sinceSeconds")
    path = log_path(data_dir, namespace, name, container, previous)
    if not path.exists():
        if previous:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        reason = _waiting_reason(pod, container)
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    handle = path.open("rb")
    try:
        inode = os.fstat(handle.fileno()).st_ino
        data = handle.read()
        if since is not None and os.fstat(handle.fileno()).st_mtime < time.time() - since:
            data = b""
        if tail_lines is not None:
            data = _tail(data, tail_lines)
        sent = 0
        if limit_bytes is not None:
            data = data[:limit_bytes]
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        if follow:
            response.enable_chunked_encoding()
        await response.prepare(request)
        if data:
            await response.write(data)
            sent += len(data)
        uid = pod["metadata"].get("uid")
        while follow and (limit_bytes is None or sent < limit_bytes):
            chunk = handle.read()
            if chunk:
                if limit_bytes is not None:
                    chunk = chunk[: limit_bytes - sent]
                await response.write(chunk)
                sent += len(chunk)
                continue
            current = api.store.get(POD_RID, namespace, name)
            if current is None or current["metadata"].get("uid") != uid or _terminated(current, container):
                break
            if request.transport is None or request.transport.is_closing():
                break
            try:
                if os.stat(path).st_ino != inode:
                    break
            except FileNotFoundError:
                break
            await asyncio.sleep(_FOLLOW_POLL)
        await response.write_eof()
        return response
    finally:
        handle.close()
