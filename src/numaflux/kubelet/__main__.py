"""`python -m numaflux.kubelet --dir DIR`: the local kubelet agent, talking to the API server of
DIR/kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from kubernetes_asyncio import client, config

from numaflux.kubelet.agent import KubeletAgent
from numaflux.kubelet.backoff import BackoffPolicy
from numaflux.kubelet.node import KubeletConfig
from numaflux.kubelet.sandbox import SandboxUnavailable
from numaflux.local.paths import default_data_dir, kubeconfig_path


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m numaflux.kubelet", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="data directory (default $NUMAFLUX_DIR)")
    parser.add_argument("--kubeconfig", type=Path, default=None, help="default DIR/kubeconfig")
    parser.add_argument("--node-name", default=socket.gethostname().lower())
    parser.add_argument("--backoff-base", type=float, default=10.0, help="CrashLoopBackOff base seconds")
    parser.add_argument(
        "--backoff-reset",
        type=float,
        default=600.0,
        help="a container that ran this many seconds before exiting restarts at once (crash count reset)",
    )
    parser.add_argument(
        "--shutdown-grace", type=float, default=15.0, help="cap on pods' grace periods when stopping"
    )
    parser.add_argument(
        "--no-pod-kubeconfig",
        action="store_true",
        help="do not set KUBECONFIG in containers (by default they get the kubelet's kubeconfig)",
    )
    return parser.parse_args()


async def _main(args: argparse.Namespace) -> None:
    data_dir = (args.dir or default_data_dir()).expanduser().resolve()
    kubeconfig = (args.kubeconfig or kubeconfig_path(data_dir)).resolve()
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    extra_env = {} if args.no_pod_kubeconfig else {"KUBECONFIG": str(kubeconfig)}
    settings = KubeletConfig(
        data_dir=data_dir,
        node_name=args.node_name,
        backoff=BackoffPolicy(base=args.backoff_base, reset_after=args.backoff_reset),
        extra_env=extra_env,
        shutdown_grace=args.shutdown_grace,
    )
    async with client.ApiClient(configuration) as api:
        agent = KubeletAgent.create(settings, api)
        task = asyncio.create_task(agent.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main() -> None:
    """Run the kubelet agent until SIGTERM/SIGINT (which stops every pod it runs)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_main(_parse()))
    except SandboxUnavailable as error:
        sys.exit(f"numaflux kubelet: {error}")


if __name__ == "__main__":
    main()
