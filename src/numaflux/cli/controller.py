"""`numaflux controller`: the controller manager (ISB service, workloads; Pipeline/Vertex as they join)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from numaflux.controller.config import OWN_IMAGE, ControllerConfig, LeaderConfig, Mode


def _kubeconfig(explicit: Path | None, data_dir: Path | None) -> Path | None:
    """--kubeconfig, else the local cluster's, else $KUBECONFIG, else ~/.kube/config (None: in-cluster)."""
    if explicit is not None:
        return explicit
    if data_dir is not None:
        return data_dir / "kubeconfig"
    if os.environ.get("KUBECONFIG"):
        return Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    return Path.home() / ".kube" / "config"


async def run_manager(config: ControllerConfig, kubeconfig: Path | None) -> None:
    """Connect, register every controller and run until SIGTERM/SIGINT."""
    from kubernetes_asyncio import client
    from kubernetes_asyncio import config as kconfig

    from numaflux.controller.crds import ensure_crds
    from numaflux.controller.kube import KubeClient
    from numaflux.controller.manager import Manager

    if kubeconfig is None:
        kconfig.load_incluster_config()  # type: ignore[no-untyped-call]
        api = client.ApiClient()
    else:
        api = await kconfig.new_client_from_config(config_file=str(kubeconfig))
    try:
        kube = KubeClient(api)  # resolves the environment's proxy once, not per request
        if config.install_crds:
            await _retry(lambda: ensure_crds(kube), "installing CRDs")
        manager = Manager(kube, config)
        manager.setup_all()
        # What exists now (modules, classes, models' schemas: most of the heap) lives as long as the
        # process; moved out of the cyclic collector's reach, a full collection walks only the caches
        # and in-flight work instead of stalling every reconcile for 100+ ms on a busy machine.
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await manager.run(stop)
    finally:
        await api.close()


async def _retry(action: Callable[[], Awaitable[None]], what: str, attempts: int = 10) -> None:
    """Retry with back-off (the API server may still be starting); the last failure propagates."""
    from numaflux.controller.logs import kv

    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            await action()
            return
        except Exception as err:
            if attempt == attempts:
                raise
            logging.getLogger(__name__).warning(
                kv(f"{what} failed, retrying", attempt=attempt, error=repr(err), retry_in=f"{delay:g}s")
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def controller(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="kubeconfig (default: the local cluster's, $KUBECONFIG, ~/.kube/config)"),
    ] = None,
    local_data_dir: Annotated[
        Path | None, typer.Option(help="local cluster data dir: ISB data, ready file; implies --mode local")
    ] = None,
    mode: Annotated[
        Mode | None, typer.Option(help="local: pods for the local kubelet; kubernetes: for a real cluster")
    ] = None,
    leader_elect: Annotated[
        bool, typer.Option("--leader-elect/--no-leader-elect", help="run only while holding the lease")
    ] = True,
    namespace: Annotated[str | None, typer.Option(help="watch only this namespace (default: all)")] = None,
    lease_namespace: Annotated[str, typer.Option(help="namespace of the leader Lease")] = "default",
    lease_duration: Annotated[float, typer.Option(help="seconds")] = 15.0,
    renew_deadline: Annotated[float, typer.Option(help="seconds")] = 10.0,
    retry_period: Annotated[float, typer.Option(help="seconds")] = 2.0,
    workers: Annotated[int, typer.Option(help="concurrent reconciles per controller")] = 2,
    image: Annotated[
        str,
        typer.Option(
            envvar="NUMAFLOW_IMAGE",
            help="image of the vertex and daemon pods; a controller upgrade changes its tag",
        ),
    ] = OWN_IMAGE,
    metrics_port: Annotated[
        int,
        typer.Option(help="port of the Prometheus /metrics (0: any free port; -1: no metrics server)"),
    ] = 9090,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="address /metrics binds (default: 127.0.0.1 locally, 0.0.0.0 on Kubernetes)"),
    ] = None,
    install_crds: Annotated[
        bool | None,
        typer.Option(
            "--install-crds/--no-install-crds",
            help="create/update the NumaFlow CRDs at start (default: in local mode)",
        ),
    ] = None,
    log_reconcile_times: Annotated[
        bool,
        typer.Option(
            "--log-reconcile-times", help="log each successful reconcile with its duration (benchmarks)"
        ),
    ] = False,
) -> None:
    """Run the controller manager until SIGTERM."""
    from numaflux.controller import logs

    chosen = mode or (Mode.LOCAL if local_data_dir is not None else Mode.KUBERNETES)
    if chosen is Mode.LOCAL and local_data_dir is None:
        typer.echo("error: --local-data-dir: required with --mode local", err=True)
        raise typer.Exit(2)
    config = ControllerConfig(
        mode=chosen,
        local_data_dir=local_data_dir.resolve() if local_data_dir else None,
        namespace=namespace,
        leader_elect=leader_elect,
        leader=LeaderConfig(
            namespace=lease_namespace,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        ),
        workers=workers,
        own_image=image,
        install_crds=chosen is Mode.LOCAL if install_crds is None else install_crds,
        metrics_port=None if metrics_port < 0 else metrics_port,
        metrics_host=metrics_host,
    )
    logs.configure()
    if log_reconcile_times:
        logging.getLogger("numaflux.controller.timing").setLevel(logging.DEBUG)
    asyncio.run(run_manager(config, _kubeconfig(kubeconfig, local_data_dir)))


def register(app: typer.Typer) -> None:
    """Add the `controller` command."""
    app.command(name="controller")(controller)
