"""The `numaflux daemon` process: one per pipeline, serving on {NUMAFLUX_POD_IP}:4327 over plain HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from numaflux.daemon.config import DaemonConfig, Discovery
from numaflux.daemon.http import DaemonRoutes
from numaflux.daemon.isb import ISBConnection
from numaflux.daemon.pods import HeadlessPodProvider, KubernetesPodProvider, PodProvider, StaticPodProvider
from numaflux.daemon.scraper import Scraper
from numaflux.daemon.service import DaemonService

log = logging.getLogger(__name__)


async def make_provider(config: DaemonConfig) -> PodProvider:
    """The pod provider `config.discovery` asks for; `auto`: Kubernetes API, else headless DNS."""
    ns, pl = config.namespace, config.pipeline_name
    if config.discovery is Discovery.STATIC:
        return StaticPodProvider(config.static_pods)
    if config.discovery is Discovery.HEADLESS:
        return HeadlessPodProvider(ns, pl)
    try:
        return await KubernetesPodProvider.from_environment(ns, pl)
    except RuntimeError as err:
        if config.discovery is Discovery.KUBERNETES:
            raise
        log.info("pod discovery: no Kubernetes API (%s); probing headless service DNS names", err)
        return HeadlessPodProvider(ns, pl)


class Daemon:
    """Everything the daemon runs: ISB connection, scraper, health loop and the HTTP server."""

    def __init__(
        self, config: DaemonConfig, provider: PodProvider, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        pl = config.pipeline
        self.isb = ISBConnection(config.isb, name=f"{pl.name}-daemon")
        self.scraper = Scraper(pl, provider, clock=clock)
        self.service = DaemonService(pl, self.isb, self.scraper, clock=clock)
        self.routes = DaemonRoutes(self.service)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    async def start(self, *, loops: bool = True) -> None:
        """Connect (in the background), serve HTTP, and (unless `loops` is False) start the tickers."""
        self.isb.start()
        self._runner = web.AppRunner(self.routes.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.host, self.config.port).start()
        if loops:
            c = self.config
            self._tasks = [
                asyncio.create_task(self.service.run_health(c.health_step), name="data-health"),
                asyncio.create_task(
                    self.scraper.run(c.scrape_interval, c.discovery_interval, c.lookback_interval),
                    name="rater",
                ),
            ]
        log.info("daemon for pipeline %s on %s", self.config.pipeline_name, self.url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.service.close()
        await self.scraper.close()
        await self.isb.close()


async def serve(config: DaemonConfig) -> int:
    """Run until SIGTERM / SIGINT; returns the exit code."""
    try:
        provider = await make_provider(config)
    except RuntimeError as err:
        log.error("pod discovery (%s): %s", config.discovery.value, err)
        return 2
    daemon = Daemon(config, provider)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.start()
    except OSError as err:
        log.error("cannot serve on %s:%d: %s", config.host, config.port, err)
        await daemon.stop()
        return 1
    await stop.wait()
    log.info("daemon shutting down")
    await daemon.stop()
    return 0
