"""Running one probe attempt: httpGet, tcpSocket or exec (inside the pod's mount namespace)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from numaflux.kubelet import sandbox


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r}: no container port with that name")


async def attempt(
    probe: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    env: Mapping[str, str],
    mounts: Sequence[sandbox.Mount],
    working_dir: str,
    hostname: str,
) -> tuple[bool, str]:
    """Run the probe once; (success, message for events on failure)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            return await _http(probe["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in probe:
            return await _tcp(probe["tcpSocket"], container, pod_ip, timeout)
        if "exec" in probe:
            argv = sandbox.wrap(list(probe["exec"].get("command") or []), mounts, working_dir, hostname)
            return await _exec(argv, env, timeout)
    except ValueError as error:
        return False, str(error)
    return (
        False,
        f"probe type {sorted(k for k in probe if k.endswith(('Get', 'Socket', 'exec', 'grpc')))} "
        "is not supported by the local kubelet",
    )


async def _http(
    spec: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, limit: float
) -> tuple[bool, str]:
    port = resolve_port(spec.get("port"), container)
    scheme = str(spec.get("scheme") or "HTTP").lower()
    host = spec.get("host") or pod_ip
    path = str(spec.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/numaflux")
    context = ssl.create_default_context()
    # Like a kubelet, HTTPS probes do not verify the certificate.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as session,
            session.get(
                url, headers=headers, ssl=context if scheme == "https" else False, allow_redirects=False
            ) as response,
        ):
            if 200 <= response.status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return False, f'Get "{url}": {error or type(error).__name__}'


async def _tcp(
    spec: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, limit: float
) -> tuple[bool, str]:
    port = resolve_port(spec.get("port"), container)
    host = spec.get("host") or pod_ip
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (TimeoutError, OSError) as error:
        return False, f"dial tcp {host}:{port}: {error or type(error).__name__}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def _exec(argv: Sequence[str], env: Mapping[str, str], limit: float) -> tuple[bool, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
        return False, f"command timed out after {limit:g}s"
    finally:
        _kill_group(process.pid)
    if process.returncode == 0:
        return True, ""
    text = output.decode(errors="replace").strip()
    return False, f"command exited with {process.returncode}: {text[-500:]}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
