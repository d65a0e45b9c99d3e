"""Leader election on a coordination.k8s.io/v1 Lease (client-go's LeaseLock, reduced).

A candidate takes the lease when it is free (no holder) or when its record has not changed for
`lease_duration` seconds of the candidate's own clock (so clock skew between machines does not
matter). The leader renews every `retry_period`; if it cannot renew for `renew_deadline`, or sees
another holder, it has lost the lease and must stop reconciling. On graceful shutdown it releases the
lease so that a successor takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from numaflux.controller.clock import Clock, SystemClock
from numaflux.controller.config import LeaderConfig
from numaflux.controller.kube import JSON, LEASE, KubeClient, is_conflict, is_not_found
from numaflux.controller.logs import kv

log = logging.getLogger(__name__)


def micro_time(now: datetime) -> str:
    """metav1.MicroTime."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_is_free(spec: JSON, identity: str, observed_at: float, now: float) -> bool:
    """Whether `identity` may take (or keep) a lease whose spec it last saw change at `observed_at`."""
    holder = spec.get("holderIdentity") or ""
    if holder in ("", identity):
        return True
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return observed_at + duration <= now


class LeaderElector:
    """Acquires, renews and releases the lease for one identity."""

    def __init__(self, kube: KubeClient, config: LeaderConfig, clock: Clock | None = None) -> None:
        self.kube = kube
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.is_leader = False
        self._observed: tuple[str, str, int] | None = None
        self._observed_at = 0.0

    async def acquire(self) -> None:
        """Return once this identity holds the lease."""
        log.info(kv("waiting for the leader lease", lease=self._lease_key(), identity=self.config.identity))
        while True:
            try:
                if await self.try_acquire_or_renew():
                    break
            except Exception as err:  # the API server may be restarting; keep campaigning
                log.warning(kv("lease acquisition failed", lease=self._lease_key(), error=repr(err)))
            await asyncio.sleep(self.config.retry_period)
        self.is_leader = True
        log.info(kv("became leader", lease=self._lease_key(), identity=self.config.identity))

    async def hold(self) -> None:
        """Renew until the lease is lost (renewals failing for `renew_deadline`, or another holder)."""
        last_renew = self.clock.monotonic()
        while True:
            await asyncio.sleep(self.config.retry_period)
            try:
                ok = await asyncio.wait_for(self.try_acquire_or_renew(), self.config.renew_deadline)
            except Exception as err:
                log.warning(kv("lease renewal failed", lease=self._lease_key(), error=repr(err)))
                ok = False
            now = self.clock.monotonic()
            if ok:
                last_renew = now
                continue
            taken = self._observed is not None and self._observed[0] not in ("", self.config.identity)
            if taken or now - last_renew >= self.config.renew_deadline:
                break
        self.is_leader = False
        log.warning(kv("lost the leader lease", lease=self._lease_key(), identity=self.config.identity))

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; False if another identity holds a live lease or the write lost a race."""
        cfg = self.config
        now_wall = micro_time(self.clock.now())
        try:
            lease = await self.kube.get(LEASE, cfg.namespace, cfg.name)
        except Exception as err:
            if not is_not_found(err):
                raise
            body = {
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": self._spec(now_wall, now_wall, 0),
            }
            try:
                await self.kube.create(LEASE, body)
            except Exception as create_err:
                if is_conflict(create_err):
                    return False
                raise
            self._observe(body["spec"])
            return True
        spec = lease.get("spec") or {}
        self._observe(spec)
        if not lease_is_free(spec, cfg.identity, self._observed_at, self.clock.monotonic()):
            return False
        holder = spec.get("holderIdentity") or ""
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == cfg.identity:
            new_spec = self._spec(spec.get("acquireTime") or now_wall, now_wall, transitions)
        else:
            new_spec = self._spec(now_wall, now_wall, transitions + 1)
        lease["spec"] = new_spec
        try:
            await self.kube.replace(LEASE, lease)
        except Exception as err:
            if is_conflict(err):
                return False
            raise
        self._observe(new_spec)
        return True

    async def release(self) -> None:
        """Give the lease up (holder cleared) if this identity holds it."""
        if not self.is_leader:
            return
        self.is_leader = False
        cfg = self.config
        try:
            lease = await self.kube.get(LEASE, cfg.namespace, cfg.name)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != cfg.identity:
                return
            now_wall = micro_time(self.clock.now())
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": now_wall}
            await self.kube.replace(LEASE, lease)
            log.info(kv("released the leader lease", lease=self._lease_key(), identity=cfg.identity))
        except Exception as err:
            log.warning(kv("could not release the leader lease", lease=self._lease_key(), error=repr(err)))

    def _spec(self, acquire: str, renew: str, transitions: int) -> JSON:
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.lease_duration)),
            "acquireTime": acquire,
            "renewTime": renew,
            "leaseTransitions": transitions,
        }

    def _observe(self, spec: JSON) -> None:
        record = (
            str(spec.get("holderIdentity") or ""),
            str(spec.get("renewTime") or ""),
            int(spec.get("leaseTransitions") or 0),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self.clock.monotonic()

    def _lease_key(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"
