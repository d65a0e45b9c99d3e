"""Rules for the parts vertices and MonoVertices share: scale, cron, update strategy, containers,
sources, sinks and UDFs."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from numaflux.api.container import Container
from numaflux.api.limits import RateLimit
from numaflux.api.scale import Scale
from numaflux.api.sink import AbstractSink, RetryStrategy, Sink
from numaflux.api.source import HTTPSourceAuth, Source
from numaflux.api.udf import UDF, GroupBy
from numaflux.api.update_strategy import UpdateStrategy, scaled_value_from_int_or_percent
from numaflux.api.validation._report import Report, seconds
from numaflux.api.validation.cron import CronError, parse_cron
from numaflux.api.validation.names import RESERVED_CONTAINER_NAMES

_AWS_ACCOUNT_ID = re.compile(r"\d{12}")


def check_scale_bounds(scale: Scale | None, path: str, out: Report) -> None:
    """0 <= min <= max; an unset max means 50, and max may be 0."""
    if scale is None:
        return
    if scale.min is not None and scale.min < 0:
        out.add(f"{path}.min", f"min {scale.min} is negative, it must be 0 or more")
    if scale.max is not None and scale.max < 0:
        out.add(f"{path}.max", f"max {scale.max} is negative, it must be 0 or more")
    lo, hi = scale.get_min_replicas(), scale.get_max_replicas()
    if hi >= 0 and lo > hi:
        where = f"{path}.max" if scale.max is not None else f"{path}.min"
        shown = f"max {hi}" if scale.max is not None else f"the default max {hi}"
        out.add(where, f"min {lo} is greater than {shown}; it must be min <= max")


def _valid_timezone(name: str) -> bool:
    if name in ("", "UTC", "Local"):
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_cron(scale: Scale, path: str, out: Report) -> None:
    """``scale.cron`` rules (sources and MonoVertices only; the caller checks where it may appear)."""
    cron = scale.cron
    if cron is None:
        return
    cpath = f"{path}.cron"
    if scale.is_disabled():
        out.add(f"{path}.disabled", "cron must not be configured when autoscaling is disabled")
    if not _valid_timezone(cron.get_timezone()):
        out.add(f"{cpath}.timezone", f"unknown timezone {cron.get_timezone()!r}")
    if not cron.schedules:
        out.add(f"{cpath}.schedules", "at least one schedule is required")
    for i, sched in enumerate(cron.schedules or []):
        spath = f"{cpath}.schedules[{i}]"
        specs = []
        for field, expr in (("start", sched.start), ("end", sched.end)):
            if not expr:
                out.add(f"{spath}.{field}", f"{field} is required (a 6-field cron expression)")
                continue
            try:
                specs.append(parse_cron(expr))
            except CronError as exc:
                out.add(f"{spath}.{field}", f"{expr!r} is not a valid 6-field cron expression: {exc}")
        if len(specs) == 2:
            start, end = specs
            if start == end:
                out.add(spath, f"start and end are the same schedule ({sched.start!r})")
            elif (start.dom, start.month, start.dow) != (end.dom, end.month, end.dow):
                out.add(spath, "start and end must have the same day-of-month, month and day-of-week fields")
        for field, value in (("min", sched.min), ("max", sched.max)):
            if value is None:
                out.add(f"{spath}.{field}", f"{field} is required")
            elif value < 0:
                out.add(f"{spath}.{field}", f"{field} {value} is negative, it must be 0 or more")
        if sched.min is not None and sched.max is not None and 0 <= sched.max < sched.min:
            out.add(f"{spath}.max", f"min {sched.min} is greater than max {sched.max}")


def check_update_strategy(strategy: UpdateStrategy | None, path: str, out: Report) -> None:
    """``maxUnavailable`` must be an integer >= 0 or a percentage string ``"N%"``."""
    if strategy is None or strategy.rolling_update is None:
        return
    value = strategy.rolling_update.max_unavailable
    if value is None:
        return
    where = f"{path}.rollingUpdate.maxUnavailable"
    if isinstance(value, int):
        if value < 0:
            out.add(where, f"maxUnavailable {value} is negative")
        return
    try:
        scaled_value_from_int_or_percent(value, 1, round_up=True)
    except ValueError:
        out.add(where, f'invalid maxUnavailable {value!r}: must be an integer or a percentage like "25%"')
        return
    if value.startswith("-"):
        out.add(where, f"maxUnavailable {value!r} is negative")


def check_extra_containers(
    init_containers: list[dict[str, Any]] | None,
    sidecars: list[dict[str, Any]] | None,
    path: str,
    out: Report,
) -> None:
    """User init containers and sidecars may not take the names of NumaFlow's own containers."""
    for field, items in (("initContainers", init_containers), ("sidecars", sidecars)):
        for i, item in enumerate(items or []):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in RESERVED_CONTAINER_NAMES:
                kind = "init container" if field == "initContainers" else "sidecar"
                out.add(
                    f"{path}.{field}[{i}].name",
                    f'{kind} name "{name}" is reserved for containers created by NumaFlow',
                )


def check_image(container: Container | None, path: str, what: str, out: Report) -> None:
    """``{path}.container.image`` must be set."""
    if container is None:
        out.add(f"{path}.container", f"{what} needs a container with an image")
    elif not container.image:
        out.add(f"{path}.container.image", f"{what} needs a container image")


def _check_secret_selector(selector: dict[str, Any] | None, path: str, out: Report) -> None:
    if selector is None:
        return
    for key in ("name", "key"):
        value = selector.get(key)
        if not isinstance(value, str) or not value:
            out.add(f"{path}.{key}", f"the token secret selector needs a {key}")


def _check_auth(auth: HTTPSourceAuth | None, path: str, out: Report) -> None:
    if auth is not None:
        _check_secret_selector(auth.token, f"{path}.auth.token", out)


def _check_assume_role(role: dict[str, Any] | None, path: str, out: Report) -> None:
    if role is None:
        return
    arn = role.get("roleArn")
    if not isinstance(arn, str) or not arn:
        out.add(f"{path}.roleArn", "roleArn is required for an assume-role configuration")
    elif not arn.startswith("arn:aws:iam::") or ":role/" not in arn:
        out.add(f"{path}.roleArn", f"roleArn {arn!r} is not an AWS IAM role ARN")
    duration = role.get("durationSeconds")
    if isinstance(duration, int) and not 900 <= duration <= 43200:
        out.add(f"{path}.durationSeconds", f"durationSeconds {duration} must be between 900 and 43200")


def _check_sqs(region: str | None, queue: str | None, owner: str | None, path: str, out: Report) -> None:
    if not region:
        out.add(f"{path}.awsRegion", "awsRegion is required")
    if not queue:
        out.add(f"{path}.queueName", "queueName is required")
    if not owner:
        out.add(f"{path}.queueOwnerAWSAccountID", "queueOwnerAWSAccountID is required")
    elif not _AWS_ACCOUNT_ID.fullmatch(owner):
        out.add(f"{path}.queueOwnerAWSAccountID", f"{owner!r} is not a 12-digit AWS account ID")


def check_source(source: Source, path: str, out: Report) -> None:
    """Exactly one source kind; images for UD source and transformer; generator, http, sqs fields."""
    kinds = source.kinds()
    if not kinds:
        out.add(
            path,
            "a source needs one of generator, kafka, http, nats, jetstream, pulsar, sqs, serving, udsource",
        )
    elif len(kinds) > 1:
        out.add(path, f"only one source kind may be set, found {', '.join(kinds)}")
    if source.udsource is not None:
        check_image(source.udsource.container, f"{path}.udsource", "a user-defined source", out)
    if source.transformer is not None:
        check_image(source.transformer.container, f"{path}.transformer", "a source transformer", out)
    if (gen := source.generator) is not None:
        gpath = f"{path}.generator"
        for field, num in (
            ("rpu", gen.rpu),
            ("msgSize", gen.msg_size),
            ("keyCount", gen.key_count),
            ("value", gen.value),
        ):
            if num is not None and num < 0:
                out.add(f"{gpath}.{field}", f"{field} {num} is negative, it must be 0 or more")
        for field, dur in (("duration", gen.duration), ("jitter", gen.jitter)):
            secs = seconds(dur)
            if secs is not None and secs < 0:
                out.add(f"{gpath}.{field}", f"{field} {dur!r} is negative")
    if source.http is not None:
        _check_auth(source.http.auth, f"{path}.http", out)
    if source.serving is not None:
        _check_auth(source.serving.auth, f"{path}.serving", out)
    if (sqs := source.sqs) is not None:
        _check_sqs(sqs.aws_region, sqs.queue_name, sqs.queue_owner_aws_account_id, f"{path}.sqs", out)
        _check_assume_role(sqs.assume_role, f"{path}.sqs.assumeRole", out)


def _check_abstract_sink(sink: AbstractSink, path: str, what: str, out: Report) -> None:
    kinds = sink.kinds()
    if not kinds:
        out.add(path, f"{what} needs one of log, kafka, blackhole, udsink, serve, sqs, pulsar")
    elif len(kinds) > 1:
        out.add(path, f"only one kind may be set for {what}, found {', '.join(kinds)}")
    if sink.udsink is not None:
        check_image(sink.udsink.container, f"{path}.udsink", "a user-defined sink", out)
    if (sqs := sink.sqs) is not None:
        _check_sqs(sqs.aws_region, sqs.queue_name, sqs.queue_owner_aws_account_id, f"{path}.sqs", out)
        _check_assume_role(sqs.assume_role, f"{path}.sqs.assumeRole", out)


def _check_retry_strategy(retry: RetryStrategy, path: str, out: Report) -> None:
    backoff = retry.backoff
    if backoff is None:
        return
    bpath = f"{path}.backoff"
    if backoff.steps is not None and backoff.steps <= 0:
        out.add(f"{bpath}.steps", f"steps {backoff.steps} must be at least 1 (a write needs one attempt)")
    if backoff.factor is not None and backoff.factor < 1:
        out.add(f"{bpath}.factor", f"factor {backoff.factor} must be 1 or more")
    if backoff.jitter is not None and not 0 <= backoff.jitter < 1:
        out.add(f"{bpath}.jitter", f"jitter {backoff.jitter} must be in [0, 1)")
    cap = seconds(backoff.cap)
    if cap is not None and cap < backoff.get_interval_seconds():
        if backoff.interval is not None:
            shown = f"interval {backoff.interval!r}"
        else:
            shown = f"the default interval {backoff.get_interval()}"
        out.add(f"{bpath}.cap", f"cap {backoff.cap!r} is less than {shown}")


def check_sink(sink: Sink, path: str, out: Report) -> None:
    """One sink kind; fallback/onSuccess sinks well formed; retry strategy consistent."""
    _check_abstract_sink(sink, path, "a sink", out)
    if sink.fallback is not None:
        _check_abstract_sink(sink.fallback, f"{path}.fallback", "the fallback sink", out)
    if sink.on_success is not None:
        _check_abstract_sink(sink.on_success, f"{path}.onSuccess", "the onSuccess sink", out)
    if sink.retry_strategy is not None:
        retry = sink.retry_strategy
        if retry.on_failure == "fallback" and (sink.fallback is None or not sink.fallback.kinds()):
            out.add(
                f"{path}.retryStrategy.onFailure",
                'onFailure is "fallback" but no fallback sink is configured',
            )
        _check_retry_strategy(retry, f"{path}.retryStrategy", out)


def _check_window_length(value: str | None, path: str, field: str, out: Report) -> float | None:
    if value is None:
        out.add(path, f"{field} is required")
        return None
    secs = seconds(value)
    if secs is not None and secs <= 0:
        out.add(path, f"{field} {value!r} must be greater than 0")
        return None
    return secs


def _check_group_by(group_by: GroupBy, path: str, out: Report) -> None:
    wpath = f"{path}.window"
    window = group_by.window
    kinds = window.kinds() if window is not None else []
    if window is None or not kinds:
        out.add(wpath, "a window is required: one of fixed, sliding, session, accumulator")
    elif len(kinds) > 1:
        out.add(wpath, f"only one window kind may be set, found {', '.join(kinds)}")
    if window is not None:
        if window.fixed is not None:
            _check_window_length(window.fixed.length, f"{wpath}.fixed.length", "length", out)
        if (sliding := window.sliding) is not None:
            length = _check_window_length(sliding.length, f"{wpath}.sliding.length", "length", out)
            slide = _check_window_length(sliding.slide, f"{wpath}.sliding.slide", "slide", out)
            if length is not None and slide is not None and slide > length:
                out.add(
                    f"{wpath}.sliding.slide",
                    f"slide {sliding.slide!r} is longer than the window length {sliding.length!r}",
                )
        if window.session is not None:
            _check_window_length(window.session.timeout, f"{wpath}.session.timeout", "timeout", out)
        if window.accumulator is not None:
            _check_window_length(window.accumulator.timeout, f"{wpath}.accumulator.timeout", "timeout", out)
    lateness = seconds(group_by.allowed_lateness)
    if lateness is not None and lateness < 0:
        out.add(f"{path}.allowedLateness", f"allowedLateness {group_by.allowed_lateness!r} is negative")
    storage = group_by.storage
    if storage is None:
        out.add(f"{path}.storage", "storage is required: one of persistentVolumeClaim, emptyDir, no_store")
        return
    set_kinds = [
        name
        for name, value in (
            ("persistentVolumeClaim", storage.persistent_volume_claim),
            ("emptyDir", storage.empty_dir),
            ("no_store", storage.no_store),
        )
        if value is not None
    ]
    if not set_kinds:
        out.add(f"{path}.storage", "storage needs one of persistentVolumeClaim, emptyDir, no_store")
    elif len(set_kinds) > 1:
        out.add(f"{path}.storage", f"only one storage kind may be set, found {', '.join(set_kinds)}")


def check_udf(udf: UDF, path: str, out: Report, *, allow_reduce: bool = True) -> None:
    """A UDF runs a user container; reduce UDFs need one window and one storage kind."""
    check_image(udf.container, path, "a UDF", out)
    if udf.group_by is not None:
        if allow_reduce:
            _check_group_by(udf.group_by, f"{path}.groupBy", out)
        else:
            out.add(f"{path}.groupBy", "groupBy (reduce) is not supported in a MonoVertex")


def check_rate_limit(rate: RateLimit | None, path: str, out: Report) -> None:
    if rate is None:
        return
    if rate.max is not None and rate.max < 0:
        out.add(f"{path}.max", f"max {rate.max} is negative")
    if rate.min is not None and rate.min < 0:
        out.add(f"{path}.min", f"min {rate.min} is negative")
    if rate.max is not None and rate.min is not None and 0 <= rate.max < rate.min:
        out.add(f"{path}.min", f"min {rate.min} is greater than max {rate.max}")


def check_limits(limits: Any, path: str, out: Report) -> None:
    """Read/buffer limits: readBatchSize and concurrency >= 1, bufferMaxLength >= 1, usage 1-100 %."""
    if limits is None:
        return
    for field, attr in (
        ("readBatchSize", "read_batch_size"),
        ("concurrency", "concurrency"),
        ("bufferMaxLength", "buffer_max_length"),
    ):
        value = getattr(limits, attr, None)
        if value is not None and value < 1:
            out.add(f"{path}.{field}", f"{field} {value} must be at least 1")
    usage = getattr(limits, "buffer_usage_limit", None)
    if usage is not None and not 1 <= usage <= 100:
        out.add(
            f"{path}.bufferUsageLimit", f"bufferUsageLimit {usage} must be a percentage between 1 and 100"
        )
    timeout = seconds(getattr(limits, "read_timeout", None))
    if timeout is not None and timeout < 0:
        out.add(f"{path}.readTimeout", f"readTimeout {limits.read_timeout!r} is negative")
    check_rate_limit(getattr(limits, "rate_limit", None), f"{path}.rateLimit", out)


__all__ = [
    "check_cron",
    "check_extra_containers",
    "check_image",
    "check_limits",
    "check_scale_bounds",
    "check_sink",
    "check_source",
    "check_udf",
    "check_update_strategy",
]
