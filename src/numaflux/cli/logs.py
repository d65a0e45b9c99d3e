"""`numaflux logs POD [-c CONTAINER] [-f]`: a container's log (locally, the file the kubelet writes, served
by the API server's pods/log like `kubectl logs`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from kubernetes_asyncio.client.exceptions import ApiException

from numaflux.cli import client
from numaflux.controller.kube import POD, KubeClient, is_not_found


async def _logs(kube: KubeClient, namespace: str, pod: str, container: str | None, follow: bool) -> None:
    what = f"Pod {namespace}/{pod}"
    try:
        await kube.get(POD, namespace, pod)
    except ApiException as err:
        if is_not_found(err):
            raise client.Fail(f"{what} not found") from err
        raise
    out = sys.stdout.buffer
    try:
        async for chunk in client.stream_logs(kube, namespace, pod, container, follow):
            out.write(chunk)
            out.flush()
    except ApiException as err:
        raise client.Fail(f"{what}: {client.api_reason(err)}") from err


def logs_command(
    pod: Annotated[str, typer.Argument(metavar="POD", help="pod name")],
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="container (default: the pod's only/main one)")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep streaming new lines")] = False,
    namespace: client.NamespaceOpt = "default",
    directory: client.DirOpt = None,
) -> None:
    """Print a container's log; with -f, keep following it until the container ends or Ctrl-C.

    Exit codes: 0 success; 1 error (pod or container not found, API error).
    """
    client.run(
        directory, lambda kube: _logs(kube, namespace, pod, container, follow), f"Pod {namespace}/{pod}"
    )


def register(app: typer.Typer) -> None:
    """Add `numaflux logs`."""
    app.command("logs")(logs_command)
