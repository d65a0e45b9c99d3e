"""Pure decisions: status merge patches, lease expiry, Deployment rollout steps, StatefulSet ordinals."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from numaflux.controller.leader import lease_is_free
from numaflux.controller.status import keep_condition_times, merge_patch
from numaflux.controller.workloads.deployment import plan_rollout, rolling_bounds
from numaflux.controller.workloads.statefulset import ordinal_of


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


# Status documents: objects whose values are never null (a null would mean "delete" in a merge patch).
non_null = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
documents = st.dictionaries(st.text(max_size=3), non_null, max_size=4)


@given(documents, documents)
def test_a_merge_patch_turns_the_old_status_into_the_new_one(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    patch = merge_patch(old, new)
    if old == new:
        assert patch is None
    else:
        assert apply_merge_patch(old, patch) == new


def test_a_merge_patch_names_only_what_changed() -> None:
    old = {"phase": "Pending", "conditions": [{"type": "A"}], "message": "x", "observedGeneration": 1}
    new = {"phase": "Running", "conditions": [{"type": "A"}], "observedGeneration": 1}
    assert merge_patch(old, new) == {"phase": "Running", "message": None}


def test_a_lease_is_free_when_unheld_or_ours_or_unrenewed_for_its_duration() -> None:
    held = {"holderIdentity": "a", "leaseDurationSeconds": 15}
    assert lease_is_free({"holderIdentity": ""}, "b", observed_at=100, now=100)
    assert lease_is_free(held, "a", observed_at=100, now=100)
    assert not lease_is_free(held, "b", observed_at=100, now=114.9)
    assert lease_is_free(held, "b", observed_at=100, now=115)


def pods(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {"metadata": {"name": f"{prefix}-{i}", "creationTimestamp": f"2026-01-01T00:00:0{i}Z"}}
        for i in range(count)
    ]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in items]


def test_rolling_bounds_round_surge_up_and_unavailable_down() -> None:
    spec = {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
    assert rolling_bounds(spec, 3) == (1, 0)
    assert rolling_bounds(spec, 4) == (1, 1)
    assert rolling_bounds({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}, 4) == (0, 1)


def test_scaling_up_creates_the_missing_pods() -> None:
    plan = plan_rollout({}, 3, pods("new", 1), [], {"new-0"})
    assert (plan.create, plan.delete) == (2, [])


def test_scaling_down_removes_unready_then_newest_pods() -> None:
    new = pods("new", 3)
    plan = plan_rollout({}, 1, new, [], {"new-0", "new-2"})
    assert plan.create == 0
    assert names(plan.delete) == ["new-1", "new-2"]


def test_a_rolling_update_surges_first_and_keeps_the_minimum_available() -> None:
    spec = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}
    old = pods("old", 2)
    step1 = plan_rollout(spec, 2, [], old, {"old-0", "old-1"})
    assert (step1.create, step1.delete) == (1, [])
    new = pods("new", 1)
    waiting = plan_rollout(spec, 2, new, old, {"old-0", "old-1"})  # new pod not ready yet
    assert (waiting.create, waiting.delete) == (0, [])
    ready = plan_rollout(spec, 2, new, old, {"old-0", "old-1", "new-0"})
    assert (ready.create, names(ready.delete)) == (0, ["old-0"])


def test_recreate_deletes_all_old_pods_before_creating_new_ones() -> None:
    spec = {"strategy": {"type": "Recreate"}}
    first = plan_rollout(spec, 2, [], pods("old", 2), {"old-0", "old-1"})
    assert (first.create, names(first.delete)) == (0, ["old-0", "old-1"])
    second = plan_rollout(spec, 2, [], [], set())
    assert (second.create, second.delete) == (2, [])


def test_statefulset_pods_are_recognised_by_ordinal() -> None:
    assert ordinal_of("web", "web-0") == 0
    assert ordinal_of("web", "web-12") == 12
    assert ordinal_of("web", "web-x") is None
    assert ordinal_of("web", "webby-1") is None


def test_re_derived_conditions_keep_their_times_unless_they_changed() -> None:
    old = [
        {"type": "A", "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": "t0"},
        {"type": "B", "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": "t0"},
    ]
    new = [
        {"type": "A", "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": "t9"},
        {"type": "B", "status": "False", "reason": "Down", "message": "x", "lastTransitionTime": "t9"},
        {"type": "C", "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": "t9"},
    ]
    assert [c["lastTransitionTime"] for c in keep_condition_times(old, new)] == ["t0", "t9", "t9"]


def test_scale_down_removes_the_newer_of_two_pods_created_in_the_same_second() -> None:
    from numaflux.controller.workloads.deployment import plan_rollout
    from numaflux.controller.workloads.pods import CREATED_NS_ANNOTATION

    def pod(name: str, created_ns: int) -> dict[str, object]:
        meta = {
            "name": name,
            "creationTimestamp": "2026-11-22T06:00:00Z",
            "annotations": {CREATED_NS_ANNOTATION: str(created_ns)},
        }
        return {"metadata": meta}

    older, newer = pod("web-a", 1_000), pod("web-b", 2_000)
    for pods in ([older, newer], [newer, older]):
        plan = plan_rollout({}, 1, list(pods), [], {"web-a", "web-b"})
        assert [p["metadata"]["name"] for p in plan.delete] == ["web-b"]
