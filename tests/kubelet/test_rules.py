"""Pure rules of the kubelet: backoff, probe thresholds, expansion, quantities, images, phase, addresses."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.kubelet import backoff, images, paths, probes, sandbox, status
from numaflux.kubelet.env import expand, field_value, resource_value
from numaflux.kubelet.events import Decision, EventAggregator
from numaflux.kubelet.ipam import AddressPool
from numaflux.kubelet.quantity import parse_quantity

POLICY = backoff.BackoffPolicy(base=10, cap=300, reset_after=600)


def test_the_first_restart_is_immediate_then_backoff_doubles_from_ten_seconds_to_five_minutes() -> None:
    delays = [backoff.restart_delay(POLICY, n) for n in range(1, 10)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]


@given(st.integers(min_value=1, max_value=200))
def test_backoff_never_exceeds_the_cap_and_never_shrinks(n: int) -> None:
    assert 0 <= backoff.restart_delay(POLICY, n) <= backoff.restart_delay(POLICY, n + 1) <= POLICY.cap


def test_a_container_that_ran_ten_minutes_starts_its_crash_count_over() -> None:
    assert backoff.crash_count_after_exit(POLICY, 5, started_at=0, finished_at=599.9) == 6
    assert backoff.crash_count_after_exit(POLICY, 5, started_at=0, finished_at=600) == 1


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 1, False),
        ("Never", 0, False),
    ],
)
def test_restart_policy_decides_restarts(policy: str, code: int, expected: bool) -> None:
    assert backoff.should_restart(policy, code) is expected


def test_exit_codes_of_signals_read_128_plus_the_signal() -> None:
    assert (
        backoff.exit_code_of(-9) == 137 and backoff.exit_code_of(-15) == 143 and backoff.exit_code_of(3) == 3
    )
    assert backoff.terminated_reason(0) == "Completed" and backoff.terminated_reason(137) == "Error"


def test_readiness_turns_true_after_success_threshold_and_false_after_failure_threshold() -> None:
    settings = probes.ProbeSettings({"successThreshold": 2, "failureThreshold": 3, "periodSeconds": 5})
    state = probes.initial_state("readiness")
    assert state.result is None
    state = probes.record(settings, state, True, now=1)
    assert state.result is None
    state = probes.record(settings, state, True, now=2)
    assert state.result is True
    for t in (3, 4):
        state = probes.record(settings, state, False, now=t)
        assert state.result is True
    state = probes.record(settings, state, False, now=5)
    assert state.result is False and state.failures == 3


def test_liveness_starts_healthy() -> None:
    assert probes.initial_state("liveness").result is True


def test_probes_wait_for_the_initial_delay_then_run_every_period() -> None:
    settings = probes.ProbeSettings({"initialDelaySeconds": 5, "periodSeconds": 2})
    state = probes.initial_state("readiness")
    assert not probes.is_due(settings, state, container_started=100, now=104.9)
    assert probes.is_due(settings, state, container_started=100, now=105)
    assert probes.next_due(settings, state, container_started=100) == 105
    state = probes.record(settings, state, True, now=105)
    assert not probes.is_due(settings, state, 100, now=106.9)
    assert probes.is_due(settings, state, 100, now=107)
    assert probes.next_due(settings, state, 100) == 107


def test_readiness_is_peeked_at_between_runs_only_until_the_container_is_first_ready() -> None:
    settings = probes.ProbeSettings({"initialDelaySeconds": 2, "periodSeconds": 10})
    state = probes.initial_state("readiness")
    assert not probes.peek_due(settings, state, 100, now=101, last_peek=None, ever_ready=False)  # delay
    assert not probes.peek_due(settings, state, 100, now=102, last_peek=None, ever_ready=False)  # run due
    state = probes.record(settings, state, False, now=102)
    assert probes.peek_due(settings, state, 100, now=102.1, last_peek=None, ever_ready=False)
    assert not probes.peek_due(settings, state, 100, now=102.15, last_peek=102.1, ever_ready=False)
    assert probes.peek_due(settings, state, 100, now=102.2, last_peek=102.1, ever_ready=False)
    assert not probes.peek_due(settings, state, 100, now=112, last_peek=111.9, ever_ready=False)  # run due
    # Once ready (and later not), only scheduled runs; never with a success threshold above 1.
    assert not probes.peek_due(settings, state, 100, now=102.5, last_peek=None, ever_ready=True)
    two = probes.ProbeSettings({"periodSeconds": 10, "successThreshold": 2})
    assert not probes.peek_due(two, state, 100, now=102.5, last_peek=None, ever_ready=False)


def test_probe_defaults_are_the_kubernetes_ones() -> None:
    settings = probes.ProbeSettings({})
    assert (settings.initial_delay, settings.period, settings.timeout) == (0, 10, 1)
    assert (settings.success_threshold, settings.failure_threshold) == (1, 3)


def test_variable_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(C)", env) == "$(C)"
    assert expand("$(A", env) == "$(A"
    assert expand("cost $5 $$", env) == "cost $5 $"


@given(st.text(alphabet="abc$()AB", max_size=30))
def test_expansion_without_defined_variables_only_collapses_double_dollars(text: str) -> None:
    assert expand(text, {}) == expand(text, {"Z": "never"})


def test_field_refs_read_the_pod() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "labels": {"app": "a"},
            "annotations": {"numaflow.numaproj.io/replica": "3"},
        },
        "spec": {"nodeName": "n", "serviceAccountName": "sa"},
    }
    assert field_value(pod, "metadata.annotations['numaflow.numaproj.io/replica']", "127.1.0.1", "h") == "3"
    assert field_value(pod, "metadata.labels['app']", "", "") == "a"
    assert field_value(pod, "spec.nodeName", "", "") == "n"
    assert field_value(pod, "spec.serviceAccountName", "", "") == "sa"
    assert field_value(pod, "status.podIP", "127.1.0.1", "") == "127.1.0.1"
    assert field_value(pod, "status.hostIP", "", "127.0.0.1") == "127.0.0.1"


def test_resource_field_refs_round_up_in_units_of_the_divisor() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1500m"}},
                }
            ]
        }
    }
    assert resource_value(pod, "c", {"resource": "requests.cpu"}) == "1"
    assert resource_value(pod, "c", {"resource": "requests.cpu", "divisor": "1m"}) == "250"
    assert resource_value(pod, "c", {"resource": "limits.cpu"}) == "2"
    assert resource_value(pod, "c", {"resource": "requests.memory", "divisor": "1Mi"}) == "1024"
    assert int(resource_value(pod, "c", {"resource": "limits.memory"})) > 0


def test_quantities_parse_exactly() -> None:
    assert parse_quantity("500m") == Fraction(1, 2)
    assert parse_quantity("1Ki") == 1024
    assert parse_quantity("2G") == 2 * 10**9
    assert parse_quantity("1.5") == Fraction(3, 2)
    assert parse_quantity("2e3") == 2000
    with pytest.raises(ValueError, match="'abc'"):
        parse_quantity("abc")


def test_images_resolve_in_the_documented_order(tmp_path: Path) -> None:
    own = {"image": "quay.io/numaproj/numaflow:v1.8.0"}
    assert images.resolve(own, None, ["processor", "--type=MapUDF"], {}, tmp_path).argv == [
        sys.executable,
        "-m",
        "numaflux",
        "processor",
        "--type=MapUDF",
    ]
    assert images.resolve(own, ["/bin/numaflow-rs"], ["x"], {}, tmp_path).argv[:3] == [
        sys.executable,
        "-m",
        "numaflux",
    ]
    assert images.resolve({"image": "redis"}, ["redis-server"], ["--port", "1"], {}, tmp_path).argv == [
        "redis-server",
        "--port",
        "1",
    ]
    mapping = {"example.com/udf": ["{python}", "udf.py"]}
    assert images.resolve({"image": "example.com/udf:v2"}, None, ["a"], mapping, tmp_path).argv == [
        sys.executable,
        "udf.py",
        "a",
    ]
    with pytest.raises(images.ImageNotRunnable, match=r"images\.yaml"):
        images.resolve({"image": "quay.io/numaproj/numaflow-go/map-cat:stable"}, None, [], {}, tmp_path)


def test_the_user_image_map_overrides_the_bundled_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(images.DEFAULT_IMAGE_MAP, "example.com/a", ["bundled"])
    monkeypatch.setitem(images.DEFAULT_IMAGE_MAP, "example.com/b", ["bundled-b"])
    paths.image_map_path(tmp_path).write_text("example.com/a: user-cmd --flag\n")
    merged = images.load_image_map(tmp_path)
    assert merged["example.com/a"] == ["user-cmd", "--flag"]
    assert merged["example.com/b"] == ["bundled-b"]
    paths.image_map_path(tmp_path).write_text("example.com/a: 3\n")
    with pytest.raises(ValueError, match=r"example\.com/a"):
        images.load_image_map(tmp_path)


def test_repository_strips_tag_and_digest_but_not_a_registry_port() -> None:
    assert images.repository("localhost:5000/x/y:1.0") == "localhost:5000/x/y"
    assert images.repository("x/y@sha256:abc") == "x/y"
    assert images.repository("x/y") == "x/y"


def _c(state: dict[str, object], last: dict[str, object] | None = None) -> dict[str, object]:
    return {"state": state, "lastState": last or {}}


RUN = {"running": {}}
OK = {"terminated": {"exitCode": 0}}
BAD = {"terminated": {"exitCode": 1}}
WAIT = {"waiting": {"reason": "ContainerCreating"}}


@pytest.mark.parametrize(
    ("policy", "containers", "expected"),
    [
        ("Always", [_c(RUN)], "Running"),
        ("Always", [_c(WAIT)], "Pending"),
        ("Always", [_c({"waiting": {"reason": "CrashLoopBackOff"}}, BAD)], "Running"),
        ("Never", [_c(OK), _c(OK)], "Succeeded"),
        ("Never", [_c(OK), _c(BAD)], "Failed"),
        ("OnFailure", [_c(OK)], "Succeeded"),
        ("Never", [_c(OK), _c(RUN)], "Running"),
        ("Always", [_c(RUN), _c(WAIT)], "Pending"),
    ],
)
def test_pod_phase_follows_container_states(policy: str, containers: list[dict], expected: str) -> None:
    assert status.pod_phase(policy, False, False, containers) == expected


def test_pending_init_containers_keep_the_pod_pending_and_a_failed_one_fails_it() -> None:
    assert status.pod_phase("Always", True, False, [_c(WAIT)]) == "Pending"
    assert status.pod_phase("Never", True, True, [_c(WAIT)]) == "Failed"


def test_condition_times_change_only_on_transitions() -> None:
    first = status.stamp_conditions([status.condition("Ready", False)], [], now=0)
    same = status.stamp_conditions([status.condition("Ready", False)], first, now=100)
    flipped = status.stamp_conditions([status.condition("Ready", True)], same, now=200)
    assert same[0]["lastTransitionTime"] == "1970-01-01T00:00:00Z"
    assert flipped[0]["lastTransitionTime"] == "1970-01-01T00:03:20Z"


def test_qos_class() -> None:
    assert status.qos_class({"containers": [{}]}) == "BestEffort"
    guaranteed = {"limits": {"cpu": "1", "memory": "1Gi"}}
    assert status.qos_class({"containers": [{"resources": guaranteed}]}) == "Guaranteed"
    assert status.qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"


def test_addresses_are_distinct_skip_the_host_range_and_persist(tmp_path: Path) -> None:
    pool = AddressPool(tmp_path / "ips.json")
    a = pool.allocate("a", "ns", "a")
    b = pool.allocate("b", "ns", "b")
    assert a == "127.1.0.1" and b == "127.1.0.2"
    assert pool.allocate("a", "ns", "a") == a
    again = AddressPool(tmp_path / "ips.json")
    assert again.get("b") == b
    again.release("a")
    assert again.allocate("c", "ns", "c") == a


def test_address_allocation_skips_network_and_broadcast_octets(tmp_path: Path) -> None:
    pool = AddressPool(tmp_path / "ips.json")
    got = [pool.allocate(str(i), "ns", str(i)) for i in range(300)]
    assert len(set(got)) == 300
    assert all(not ip.endswith((".0", ".255")) for ip in got)
    assert "127.1.1.1" in got


def test_created_mount_points_are_removed_when_their_last_pod_goes(tmp_path: Path) -> None:
    source = tmp_path / "volume"
    source.mkdir()
    host = tmp_path / "host"
    host.mkdir()
    registry = sandbox.MountPoints(tmp_path / "mount-points.json")
    deep = sandbox.Mount(source, str(host / "a" / "b" / "c"))
    registry.ensure("pod-1", [deep])
    registry.ensure("pod-2", [deep])
    assert (host / "a" / "b" / "c").is_dir()
    registry.release("pod-1")
    assert (host / "a" / "b" / "c").is_dir()
    again = sandbox.MountPoints(tmp_path / "mount-points.json")
    again.release("pod-2")
    assert sorted(p.name for p in host.iterdir()) == []


def test_mount_points_that_existed_or_are_not_empty_stay(tmp_path: Path) -> None:
    source = tmp_path / "volume"
    source.mkdir()
    existing = tmp_path / "existing"
    existing.mkdir()
    registry = sandbox.MountPoints(tmp_path / "mount-points.json")
    created = tmp_path / "created"
    registry.ensure("pod", [sandbox.Mount(source, str(existing)), sandbox.Mount(source, str(created))])
    (created / "left-behind").write_text("x")
    registry.release("pod")
    assert existing.is_dir() and (created / "left-behind").exists()


def test_repeated_events_become_count_updates_at_most_every_interval() -> None:
    aggregator = EventAggregator(window=600, min_interval=10)
    key = ("uid", "Warning", "Unhealthy", "Readiness probe failed", "spec.containers{main}")
    first = aggregator.record(key, "web", now=0)
    assert first.action == "create" and first.name.startswith("web.") and first.count == 1
    assert aggregator.record(key, "web", now=1) == Decision("skip", first.name, 2)
    assert aggregator.record(key, "web", now=10) == Decision("update", first.name, 3)
    assert aggregator.record(key, "web", now=15).action == "skip"
    other = aggregator.record((*key[:3], "Liveness probe failed", key[4]), "web", now=16)
    assert other.action == "create" and other.name != first.name
    later = aggregator.record(key, "web", now=15 + 601)
    assert later.action == "create" and later.count == 1 and later.name != first.name


def test_event_series_are_bounded() -> None:
    aggregator = EventAggregator(window=600, min_interval=10, max_series=3)
    for i in range(10):
        aggregator.record((str(i), "Normal", "Started", "", ""), "p", now=i)
    # The oldest series was forgotten: its next occurrence starts a new Event.
    assert aggregator.record(("0", "Normal", "Started", "", ""), "p", now=11).action == "create"
    assert aggregator.record(("9", "Normal", "Started", "", ""), "p", now=12).action == "skip"
