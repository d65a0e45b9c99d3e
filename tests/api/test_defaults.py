"""Getter defaults and fallbacks, exactly as NumaFlow's."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numaflux.api import (
    Backoff,
    Edge,
    GeneratorSource,
    IdleSource,
    InterStepBufferService,
    JetStreamBufferService,
    Lifecycle,
    MonoVertexLimits,
    Pipeline,
    PipelineLimits,
    RetryStrategy,
    Scale,
    UpdateStrategy,
    VertexLifecycle,
    VertexLimits,
    Watermark,
    merge_limits,
    parse_duration,
    parse_duration_seconds,
)
from numaflux.api.edge import CombinedEdge, TagConditions


@pytest.mark.parametrize(
    ("scale", "getter", "expected"),
    [
        ({}, "get_min_replicas", 0),
        ({"min": -1}, "get_min_replicas", 0),
        ({"min": 3}, "get_min_replicas", 3),
        ({}, "get_max_replicas", 50),
        ({"max": 0}, "get_max_replicas", 0),
        ({"max": 7}, "get_max_replicas", 7),
        ({}, "get_lookback_seconds", 120),
        ({"lookbackSeconds": 30}, "get_lookback_seconds", 30),
        ({"lookbackSeconds": 900}, "get_lookback_seconds", 600),
        ({}, "get_scale_up_cooldown_seconds", 90),
        ({}, "get_scale_down_cooldown_seconds", 90),
        ({"scaleUpCooldownSeconds": 0}, "get_scale_up_cooldown_seconds", 0),
        ({"scaleDownCooldownSeconds": 5}, "get_scale_down_cooldown_seconds", 5),
        ({}, "get_zero_replica_sleep_seconds", 120),
        ({}, "get_target_processing_seconds", 20),
        ({}, "get_target_buffer_availability", 50),
        ({}, "get_replicas_per_scale_up", 2),
        ({}, "get_replicas_per_scale_down", 2),
        ({"replicasPerScale": 4}, "get_replicas_per_scale_up", 4),
        ({"replicasPerScale": 4}, "get_replicas_per_scale_down", 4),
        ({"replicasPerScale": 4, "replicasPerScaleUp": 1}, "get_replicas_per_scale_up", 1),
        ({"replicasPerScale": 4, "replicasPerScaleDown": 6}, "get_replicas_per_scale_down", 6),
        ({}, "is_disabled", False),
    ],
)
def test_scale_getters(scale: dict[str, Any], getter: str, expected: object) -> None:
    assert getattr(Scale.model_validate(scale), getter)() == expected


@pytest.mark.parametrize(
    ("lifecycle", "metadata_grace", "expected"),
    [
        ({}, None, 30),
        ({}, 12, 12),
        ({"deleteGracePeriodSeconds": 7}, 12, 7),
        ({"deletionGracePeriodSeconds": 5, "deleteGracePeriodSeconds": 7}, 12, 5),
        ({"deletionGracePeriodSeconds": 0}, 12, 0),
    ],
)
def test_termination_grace_period_fallback_chain(
    lifecycle: dict[str, Any], metadata_grace: int | None, expected: int
) -> None:
    assert (
        Lifecycle.model_validate(lifecycle).get_termination_grace_period_seconds(metadata_grace) == expected
    )


def test_pipeline_reads_the_metadata_deletion_grace_period() -> None:
    pl = Pipeline.model_validate({"metadata": {"name": "p", "deletionGracePeriodSeconds": 3}, "spec": {}})
    assert pl.get_termination_grace_period_seconds() == 3
    assert Pipeline.model_validate({"spec": {}}).get_termination_grace_period_seconds() == 30


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (None, "Running"),
        ("", "Running"),
        ("Running", "Running"),
        ("Paused", "Paused"),
        ("paused", "Running"),
        ("Pausing", "Running"),
        ("Failed", "Running"),
        ("Deleting", "Running"),
    ],
)
def test_desired_phase_anything_but_paused_is_running(phase: str | None, expected: str) -> None:
    data = {} if phase is None else {"desiredPhase": phase}
    assert Lifecycle.model_validate(data).get_desired_phase() == expected
    assert VertexLifecycle.model_validate(data).get_desired_phase() == expected
    assert Pipeline.model_validate({"spec": {"lifecycle": data}}).get_desired_phase() == expected


def test_pause_grace_period_defaults_to_30() -> None:
    assert Lifecycle().get_pause_grace_period_seconds() == 30
    assert Lifecycle(pause_grace_period_seconds=4).get_pause_grace_period_seconds() == 4


def test_pipeline_limits_defaults() -> None:
    lim = PipelineLimits()
    assert lim.get_read_batch_size() == 500
    assert lim.get_buffer_max_length() == 30000
    assert lim.get_buffer_usage_limit() == 80
    assert lim.get_buffer_usage_limit_fraction() == pytest.approx(0.8)
    assert lim.get_read_timeout() == "1s"
    assert lim.get_read_timeout_seconds() == 1.0
    assert lim.get_concurrency() == 500
    assert PipelineLimits(read_batch_size=7).get_concurrency() == 7
    assert PipelineLimits(read_batch_size=7, concurrency=2).get_concurrency() == 2
    assert MonoVertexLimits().get_read_batch_size() == 500
    assert MonoVertexLimits().get_read_timeout_seconds() == 1.0


def test_pipeline_get_pipeline_limits_fills_defaults_without_touching_the_spec() -> None:
    pl = Pipeline.model_validate({"spec": {"limits": {"readBatchSize": 10}}})
    filled = pl.get_pipeline_limits()
    assert (
        filled.read_batch_size,
        filled.buffer_max_length,
        filled.buffer_usage_limit,
        filled.read_timeout,
    ) == (
        10,
        30000,
        80,
        "1s",
    )
    assert pl.spec.limits is not None
    assert pl.spec.limits.model_fields_set == {"read_batch_size"}


def test_merge_limits_prefers_vertex_values_then_pipeline_values() -> None:
    pl = PipelineLimits.model_validate(
        {
            "readBatchSize": 100,
            "bufferUsageLimit": 60,
            "rateLimit": {"max": 10, "min": 2, "rampUpDuration": "3s"},
        }
    )
    v = VertexLimits.model_validate({"readBatchSize": 5, "readTimeout": "2s", "rateLimit": {"min": 4}})
    merged = merge_limits(pl, v)
    assert merged.get_read_batch_size() == 5
    assert merged.get_read_timeout() == "2s"
    assert merged.get_buffer_max_length() == 30000
    assert merged.get_buffer_usage_limit() == 60
    assert merged.get_concurrency() == 5
    assert merged.rate_limit is not None
    assert (merged.rate_limit.max, merged.rate_limit.min, merged.rate_limit.ramp_up_duration) == (10, 4, "3s")
    assert v.rate_limit is not None and v.rate_limit.max is None  # inputs untouched


def test_merge_limits_without_a_pipeline_rate_limit_does_not_fail() -> None:
    merged = merge_limits(None, VertexLimits.model_validate({"rateLimit": {"min": 4}}))
    assert merged.rate_limit is not None and merged.rate_limit.max is None
    assert merged.rate_limit.get_min() == 4
    assert merge_limits(None, None).get_read_batch_size() == 500


def test_merge_uses_pipeline_rate_limit_when_the_vertex_has_none() -> None:
    pl = PipelineLimits.model_validate({"rateLimit": {"max": 9}})
    merged = merge_limits(pl, VertexLimits())
    assert merged.rate_limit is not None and merged.rate_limit.max == 9


def test_pipeline_vertex_limits_merge_by_vertex_name() -> None:
    pl = Pipeline.model_validate(
        {
            "spec": {
                "limits": {"bufferMaxLength": 10},
                "vertices": [{"name": "a", "limits": {"readBatchSize": 1}}],
            }
        }
    )
    lim = pl.get_vertex_limits("a")
    assert (lim.get_read_batch_size(), lim.get_buffer_max_length()) == (1, 10)


@pytest.mark.parametrize(
    ("strategy", "desired", "expected_value", "expected_abs"),
    [
        ({}, 3, "25%", 1),
        ({}, 4, "25%", 1),
        ({}, 5, "25%", 2),
        ({}, 0, "25%", 0),
        ({"rollingUpdate": {"maxUnavailable": "50%"}}, 3, "50%", 2),
        ({"rollingUpdate": {"maxUnavailable": 2}}, 10, 2, 2),
        ({"type": "Recreate", "rollingUpdate": {}}, 8, "25%", 2),
    ],
)
def test_update_strategy_max_unavailable(
    strategy: dict[str, Any], desired: int, expected_value: object, expected_abs: int
) -> None:
    us = UpdateStrategy.model_validate(strategy)
    assert us.get_type() == "RollingUpdate"
    assert us.get_max_unavailable() == expected_value
    assert us.get_max_unavailable_replicas(desired) == expected_abs


def test_update_strategy_rejects_a_non_percent_string_when_scaled() -> None:
    with pytest.raises(ValueError, match="must be an int or a percent"):
        UpdateStrategy.model_validate(
            {"rollingUpdate": {"maxUnavailable": "abc"}}
        ).get_max_unavailable_replicas(3)


def test_generator_defaults() -> None:
    g = GeneratorSource()
    assert (g.get_rpu(), g.get_duration(), g.get_msg_size(), g.get_jitter(), g.get_key_count()) == (
        5,
        "1s",
        8,
        "0s",
        0,
    )
    assert g.get_duration_seconds() == 1.0 and g.get_jitter_seconds() == 0.0
    assert GeneratorSource(rpu=50, duration="500ms").get_duration_seconds() == 0.5


def test_retry_strategy_defaults() -> None:
    rs = RetryStrategy()
    assert rs.get_on_failure() == "retry"
    b = rs.get_backoff()
    assert (b.get_interval(), b.get_steps(), b.get_factor(), b.get_jitter()) == ("1ms", 65535, 1.0, 0.0)
    assert b.get_interval_seconds() == pytest.approx(0.001)
    assert Backoff(steps=3).get_steps() == 3


def test_watermark_defaults() -> None:
    wm = Watermark()
    assert (wm.is_disabled(), wm.get_max_delay(), wm.get_max_delay_seconds()) == (False, "0s", 0.0)
    assert Watermark(max_delay="1m30s").get_max_delay_seconds() == 90.0
    idle = IdleSource(threshold="10s", increment_by="2s", init_source_delay="20s")
    assert (idle.get_step_interval(), idle.get_threshold_seconds(), idle.get_increment_by_seconds()) == (
        "0s",
        10.0,
        2.0,
    )
    assert idle.get_init_source_delay_seconds() == 20.0


@pytest.mark.parametrize(("replicas", "expected"), [(None, 3), (2, 3), (1, 1), (3, 3), (5, 5)])
def test_jetstream_replicas(replicas: int | None, expected: int) -> None:
    assert JetStreamBufferService(replicas=replicas).get_replicas() == expected


def test_isb_service_name_defaults_to_default() -> None:
    assert Pipeline.model_validate({"spec": {}}).get_isb_service_name() == "default"
    assert (
        Pipeline.model_validate({"spec": {"interStepBufferServiceName": ""}}).get_isb_service_name()
        == "default"
    )
    assert (
        Pipeline.model_validate({"spec": {"interStepBufferServiceName": "x"}}).get_isb_service_name() == "x"
    )


def test_edge_defaults() -> None:
    e = Edge.model_validate({"from": "a", "to": "b"})
    assert e.get_on_full() == "retryUntilSuccess"
    assert TagConditions(values=["x"]).get_operator() == "or"
    ce = CombinedEdge.model_validate({"from": "a", "to": "b", "toVertexPartitionCount": 0})
    assert (ce.get_from_vertex_partitions(), ce.get_to_vertex_partitions()) == (1, 1)


def test_isb_names() -> None:
    isb = InterStepBufferService.model_validate(
        {"metadata": {"name": "default", "namespace": "ns"}, "spec": {}}
    )
    assert isb.statefulset_name() == "isbsvc-default-js"
    assert isb.headless_service_name() == "isbsvc-default-js-svc"
    assert isb.client_url() == "nats://isbsvc-default-js-svc.ns.svc:4222"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("72h", 259200.0),
        ("0", 0.0),
        ("1.5s", 1.5),
        ("-2s", -2.0),
        ("1h2m3s4ms", 3723.004),
        ("10us", 1e-5),
        ("3ns", 3e-9),
    ],
)
def test_parse_go_durations(text: str, seconds: float) -> None:
    assert parse_duration_seconds(text) == pytest.approx(seconds)
    assert parse_duration(text) == timedelta(seconds=seconds) or seconds < 1e-6


@pytest.mark.parametrize("text", ["", "1", "s", "1x", "1s2", "abc", "1 s"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_seconds(text)


# --- getters never return None -------------------------------------------------------------------------

small = st.none() | st.integers(min_value=-10, max_value=1000)
durations = st.none() | st.sampled_from(["0s", "1s", "250ms", "1m30s", "2h"])


@settings(deadline=None)
@given(
    st.builds(
        Scale,
        disabled=st.none() | st.booleans(),
        min=small,
        max=small,
        lookback_seconds=small,
        zero_replica_sleep_seconds=small,
        target_processing_seconds=small,
        target_buffer_availability=small,
        replicas_per_scale=small,
        scale_up_cooldown_seconds=small,
        scale_down_cooldown_seconds=small,
        replicas_per_scale_up=small,
        replicas_per_scale_down=small,
    )
)
def test_scale_getters_never_return_none(scale: Scale) -> None:
    _assert_getters_not_none(scale)
    assert scale.get_lookback_seconds() <= 600
    assert scale.get_min_replicas() >= 0


@settings(deadline=None)
@given(
    st.builds(
        PipelineLimits,
        read_batch_size=small,
        buffer_max_length=small,
        buffer_usage_limit=small,
        read_timeout=durations,
        concurrency=small,
    ),
    st.builds(VertexLimits, read_batch_size=small, buffer_usage_limit=small, read_timeout=durations),
)
def test_limits_getters_never_return_none(pl: PipelineLimits, vl: VertexLimits) -> None:
    _assert_getters_not_none(pl)
    _assert_getters_not_none(vl)
    _assert_getters_not_none(merge_limits(pl, vl))


@settings(deadline=None)
@given(
    st.builds(
        Lifecycle,
        deletion_grace_period_seconds=small,
        delete_grace_period_seconds=small,
        desired_phase=st.none() | st.text(max_size=10),
        pause_grace_period_seconds=small,
    ),
    st.builds(VertexLifecycle, desired_phase=st.none() | st.text(max_size=10)),
)
def test_lifecycle_getters_never_return_none(lc: Lifecycle, vlc: VertexLifecycle) -> None:
    _assert_getters_not_none(lc)
    _assert_getters_not_none(vlc)
    assert lc.get_desired_phase() in {"Running", "Paused"}
    assert vlc.get_desired_phase() in {"Running", "Paused"}


def _assert_getters_not_none(obj: object) -> None:
    called = 0
    for name in dir(type(obj)):
        if not name.startswith("get_"):
            continue
        fn = getattr(obj, name)
        params = [
            p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty
        ]
        if params:
            continue
        called += 1
        assert fn() is not None, name
    assert called > 0
