"""`numaflux local up|down|status`: the single-machine cluster."""

from __future__ import annotations

from pathlib import Path

import typer

from numaflux.api import constants as c
from numaflux.local import cluster, paths, supervisor

local_app = typer.Typer(help="Run the local cluster: API server, kubelet and controllers on this machine.")

DirOption = typer.Option(
    None, "--dir", help="state directory (default: $NUMAFLUX_DIR or ~/.numaflux/local)", show_default=False
)


def _data_dir(directory: Path | None) -> Path:
    return (directory or paths.default_data_dir()).expanduser().resolve()


@local_app.command("up")
def up(directory: Path | None = DirOption) -> None:
    """Start every component that is not running yet (starting twice is harmless)."""
    data_dir = _data_dir(directory)
    data_dir.mkdir(parents=True, exist_ok=True)
    for component in cluster.components(data_dir):
        before = supervisor.state(data_dir, component.name)
        try:
            after = supervisor.start(data_dir, component)
        except supervisor.StartError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from err
        if before.running:
            verb = "already running"
        elif before.stale:
            verb = "started (replaced a stale pid file)"
        else:
            verb = "started"
        typer.echo(f"{component.name:<11} {verb}, pid {after.pid}, log {after.log}")
    server, _, _ = cluster.read_kubeconfig(data_dir)
    kubeconfig = paths.kubeconfig_path(data_dir)
    typer.echo(f"API server  {server}")
    typer.echo(f"kubeconfig  {kubeconfig}   (export KUBECONFIG={kubeconfig})")
    _echo_metrics(data_dir)


def _echo_metrics(data_dir: Path) -> None:
    """Where Prometheus finds the controller, vertex pods and daemons (each pod has its own loopback IP)."""
    controller = cluster.controller_metrics_url(data_dir) or "not serving"
    typer.echo(f"metrics     controller    {controller}")
    typer.echo(f"            vertex pods   http://{{pod IP}}:{c.VERTEX_METRICS_PORT}/metrics")
    typer.echo(f"            daemons       http://{{pod IP}}:{c.DAEMON_SERVICE_PORT}/metrics")
    typer.echo("            (pod IPs: kubectl get pods -o wide)")


@local_app.command("down")
def down(directory: Path | None = DirOption) -> None:
    """Stop every component, in reverse start order; objects stay stored for the next `up`."""
    data_dir = _data_dir(directory)
    for component in reversed(cluster.components(data_dir)):
        stopped = supervisor.stop(data_dir, component.name)
        typer.echo(f"{component.name:<11} {'stopped' if stopped else 'not running'}")


@local_app.command("status")
def status(directory: Path | None = DirOption) -> None:
    """Report which components run; exit 1 if any is not running."""
    data_dir = _data_dir(directory)
    all_running = True
    for component in cluster.components(data_dir):
        state = supervisor.state(data_dir, component.name)
        if state.running:
            text = f"running, pid {state.pid}"
        elif state.stale:
            text = f"not running (stale pid file, pid {state.pid})"
        else:
            text = "not running"
        all_running = all_running and state.running
        typer.echo(f"{component.name:<11} {text}")
    if all_running:
        typer.echo(f"kubeconfig  {paths.kubeconfig_path(data_dir)}")
        _echo_metrics(data_dir)
    raise typer.Exit(0 if all_running else 1)


def register(app: typer.Typer) -> None:
    """Add the `local` command group."""
    app.add_typer(local_app, name="local")
