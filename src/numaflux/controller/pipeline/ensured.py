"""Which pipelines' buffers and buckets this process ensured, so a settled reconcile skips the round trips.

Ensuring is idempotent but costs a few nats-server round trips per stream, consumer and bucket, on every
reconcile. A reconcile skips it when the pipeline's last successful ensure *in this process* covered the
same ``EnsureTarget`` (ISB service uid, URL and stream settings, the connection generation, the buffer,
bucket and side-input store names) less than ``reverify_seconds`` ago. Otherwise — first reconcile after
a start, ISB service replaced or reconfigured, client reconnected (the server may have restarted),
topology changed, a failure in between, or the interval passed — it ensures again. ``reverify_in`` is the
requeue that makes the periodic pass happen even when nothing else triggers a reconcile, so a stream
deleted behind the controller's back is recreated within the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaflux.api import InterStepBufferService
from numaflux.controller.pipeline.build import IsbPlan

REVERIFY_SECONDS = 300.0
"""How long an ensure is trusted before the next reconcile checks JetStream again."""


@dataclass(frozen=True)
class EnsureTarget:
    """Everything one ensure of a pipeline's ISB objects depended on."""

    isb_uid: str
    url: str
    stream_config: str
    connection: tuple[int, int]
    buffers: frozenset[str]
    buckets: frozenset[str]
    side_inputs_store: str | None


def ensure_target(
    isb: InterStepBufferService, url: str, plan: IsbPlan, connection: tuple[int, int]
) -> EnsureTarget:
    """The target of ensuring ``plan`` on ``isb`` at ``url`` over the connection of that generation."""
    config = isb.status.config if isb.status is not None else None
    jetstream = config.jetstream if config is not None else None
    return EnsureTarget(
        isb_uid=isb.metadata.uid or "",
        url=url,
        stream_config=(jetstream.stream_config if jetstream is not None else None) or "",
        connection=connection,
        buffers=frozenset(plan.buffers),
        buckets=frozenset(plan.buckets),
        side_inputs_store=plan.side_inputs_store,
    )


class EnsureMemo:
    """Per pipeline key: the target last ensured and when (monotonic seconds, passed in by the caller)."""

    def __init__(self, reverify_seconds: float = REVERIFY_SECONDS) -> None:
        self.reverify_seconds = reverify_seconds
        self._done: dict[str, tuple[EnsureTarget, float]] = {}
        self._started: dict[str, object] = {}

    def needs_ensure(self, key: str, target: EnsureTarget, plan: IsbPlan, now: float) -> bool:
        """Whether to talk to JetStream: something to delete, or no fresh ensure of ``target``."""
        if plan.delete_buffers or plan.delete_buckets:
            return True
        done = self._done.get(key)
        return done is None or done[0] != target or now - done[1] >= self.reverify_seconds

    def begin(self, key: str) -> object:
        """An ensure of ``key`` starts: forgets the last one; the token is for ``remember``."""
        self.forget(key)
        token = self._started[key] = object()
        return token

    def remember(self, key: str, target: EnsureTarget, now: float, token: object | None = None) -> None:
        """``target`` was ensured successfully, started at ``now``. With the ``token`` of ``begin``, only
        if ``key`` was not forgotten meanwhile (the ensure ran beside reconciles that saw the ISB service
        go away, for instance: what it made may be gone)."""
        if token is not None:
            if self._started.get(key) is not token:
                return
            del self._started[key]
        self._done[key] = (target, now)

    def forget(self, key: str) -> None:
        """The next reconcile of ``key`` ensures again (a failure, an ISB problem, deletion)."""
        self._done.pop(key, None)
        self._started.pop(key, None)

    def reverify_in(self, key: str, now: float) -> float | None:
        """Seconds until the remembered ensure of ``key`` expires (at least 1), None if none is remembered."""
        done = self._done.get(key)
        if done is None:
            return None
        return max(1.0, self.reverify_seconds - (now - done[1]))
