"""Pure rules: selectors, patches, structural schemas, printer-column paths, protobuf decoding."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaflux.apiserver import patch, protobuf, schema
from numaflux.apiserver.core import Api, DeleteOptions
from numaflux.apiserver.errors import ApiError
from numaflux.apiserver.gc import GarbageCollector
from numaflux.apiserver.resources import Registry
from numaflux.apiserver.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector,
)
from numaflux.apiserver.store import Store
from numaflux.apiserver.tables import evaluate, human_duration

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a in (x, y),b", {"a": "y", "b": ""}, True),
        ("a notin (x)", {"a": "x"}, False),
        ("!a", {"b": "1"}, True),
        ("a", {}, False),
        ("n>3,n<10", {"n": "5"}, True),
        ("example.com/role=web", {"example.com/role": "web"}, True),
        ("", {"any": "thing"}, True),
    ],
)
def test_label_selectors_match_like_kubernetes(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert labels_match(parse_label_selector(selector), labels) is expected


def test_an_unparseable_label_selector_is_a_400() -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector("a in x")
    assert err.value.code == 400


def test_match_expressions_render_as_a_selector_string() -> None:
    selector = {
        "matchLabels": {"app": "x"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    }
    assert selector_from_label_selector(selector) == "app=x,tier in (a,b),!gone"


@given(st.dictionaries(st.sampled_from("abc"), st.sampled_from(["1", "2"]), max_size=3))
def test_a_rendered_match_labels_selector_selects_exactly_its_superset_labels(labels: dict[str, str]) -> None:
    wanted = {"a": "1"}
    requirements = parse_label_selector(selector_from_label_selector({"matchLabels": wanted}))
    assert labels_match(requirements, labels) == (labels.get("a") == "1")


def test_field_selectors_compare_missing_fields_as_empty() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": ""}, "status": {"phase": "Running"}}
    allowed = {"metadata.name", "spec.nodeName", "status.phase"}.__contains__
    assert fields_match(parse_field_selector("spec.nodeName=,status.phase==Running", allowed), pod)
    assert not fields_match(parse_field_selector("metadata.name!=p", allowed), pod)
    with pytest.raises(ApiError):
        parse_field_selector("spec.other=x", allowed)


@given(json_objects, json_objects)
def test_merge_patch_result_has_every_non_null_patch_key(
    target: dict[str, Any], diff: dict[str, Any]
) -> None:
    result = patch.merge_patch(target, diff)
    for key, value in diff.items():
        if value is None:
            assert key not in result
        else:
            assert key in result
    for key in target:
        if key not in diff:
            assert result[key] == target[key]


def test_json_patch_applies_operations_in_order() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "remove", "path": "/a/0"},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "test", "path": "/d/c", "value": 2},
    ]
    assert patch.json_patch(doc, ops) == {"a": [2, 3], "b": {"c": 2}, "d": {"c": 2}}
    assert doc == {"a": [1, 2], "b": {"c": 1}}
    with pytest.raises(ApiError):
        patch.json_patch(doc, [{"op": "test", "path": "/b/c", "value": 5}])


def test_strategic_merge_patch_merges_keyed_lists_and_honours_directives() -> None:
    live = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "x:1",
                    "env": [{"name": "A", "value": "1"}],
                    "ports": [{"containerPort": 80}],
                },
                {"name": "side", "image": "y:1"},
            ],
            "ports": [{"port": 80, "name": "http"}],
            "tolerations": [{"key": "k"}],
        },
    }
    diff = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
            "containers": [
                {"name": "main", "env": [{"name": "B", "value": "2"}], "ports": [{"containerPort": 81}]},
                {"name": "side", "$patch": "delete"},
            ],
            "ports": [{"port": 80, "name": "web"}],
            "tolerations": [{"key": "j"}],
        },
    }
    result = patch.strategic_merge_patch(live, diff)
    assert result["metadata"]["finalizers"] == ["a", "b"]
    main = result["spec"]["containers"]
    assert [c["name"] for c in main] == ["main"]
    assert main[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert [p["containerPort"] for p in main[0]["ports"]] == [80, 81]
    assert result["spec"]["ports"] == [{"port": 80, "name": "web"}]
    assert result["spec"]["tolerations"] == [{"key": "j"}]


def test_strategic_merge_patch_retain_keys_and_replace() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "x": {"a": 1}}}
    diff = {
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "x": {"$patch": "replace", "b": 2},
        }
    }
    assert patch.strategic_merge_patch(live, diff) == {
        "spec": {"strategy": {"type": "Recreate"}, "x": {"b": 2}}
    }


VERTEX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 5},
                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": True},
            },
        }
    },
}


def _obj(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "anything": 1}, "spec": spec}


def test_schema_defaults_prunes_and_keeps_preserved_fields() -> None:
    spec = {"name": "ab", "junk": 1, "free": {"deep": {"x": 1}}, "tags": {"a": "b"}, "port": "http"}
    result, causes, unknown = schema.admit(_obj(spec), VERTEX_SCHEMA)
    assert causes == [] and unknown == ["spec.junk"]
    assert result["spec"] == {
        "name": "ab",
        "replicas": 1,
        "free": {"deep": {"x": 1}},
        "tags": {"a": "b"},
        "port": "http",
    }
    assert result["metadata"] == {"name": "n", "anything": 1}


def test_schema_reports_each_violation_with_its_field() -> None:
    _, causes, _ = schema.admit(
        _obj({"name": "toolong", "replicas": -1, "mode": "c", "tags": {"a": 1}}), VERTEX_SCHEMA
    )
    assert sorted((c["field"], c["reason"]) for c in causes) == [
        ("spec.mode", "FieldValueNotSupported"),
        ("spec.name", "FieldValueTooLong"),
        ("spec.replicas", "FieldValueInvalid"),
        ("spec.tags.a", "FieldValueTypeInvalid"),
    ]
    _, causes, _ = schema.admit(_obj({}), VERTEX_SCHEMA)
    assert [(c["field"], c["reason"]) for c in causes] == [("spec.name", "FieldValueRequired")]


@given(st.integers(min_value=-5, max_value=5))
def test_schema_minimum_holds_for_all_integers(replicas: int) -> None:
    _, causes, _ = schema.admit(_obj({"name": "a", "replicas": replicas}), VERTEX_SCHEMA)
    assert (causes == []) == (replicas >= 0)


def test_printer_column_paths_support_indexes_and_filters() -> None:
    obj = {"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert evaluate(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert evaluate(obj, ".status.conditions[0].type") == ["A"]
    assert evaluate(obj, ".status.conditions[*].type") == ["A", "Ready"]
    assert evaluate(obj, ".status.missing") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400, "3d"),
    ],
)
def test_ages_print_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(dt.timedelta(seconds=seconds)) == text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_protobuf_configmaps_decode_to_json_and_unknown_fields_are_refused() -> None:
    meta = _field(1, b"cm") + _field(4, b"") + _field(11, _field(1, b"app") + _field(2, b"web"))
    raw = (
        _field(1, meta)
        + _field(2, _field(1, b"k") + _field(2, b"v"))
        + _field(3, _field(1, b"b") + _field(2, b"\x00\x01"))
    )
    envelope = protobuf.MAGIC + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap")) + _field(2, raw)
    assert protobuf.decode(envelope) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"app": "web"}},
        "data": {"k": "v"},
        "binaryData": {"b": "AAE="},
    }
    bad = (
        protobuf.MAGIC
        + _field(1, _field(1, b"v1") + _field(2, b"ConfigMap"))
        + _field(2, raw + _field(9, b"x"))
    )
    with pytest.raises(ApiError) as err:
        protobuf.decode(bad)
    assert err.value.code == 415 and "field 9" in err.value.message


def test_events_older_than_the_ttl_are_expired(tmp_path: Path) -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    store = Store(tmp_path / "db")
    api = Api(store, Registry(), clock=lambda: now)
    api.bootstrap()
    events = api.registry.lookup("", "v1", "events")
    assert events is not None
    for name, seen in (("old", "2026-01-01T10:59:00Z"), ("fresh", "2026-01-01T11:30:00Z")):
        body = {
            "metadata": {"name": name},
            "lastTimestamp": seen,
            "involvedObject": {"kind": "Pod", "name": "p"},
        }
        api.create(events, "default", body)
    collector = GarbageCollector(api)
    assert collector.expire_events(now) == 1
    assert [e["metadata"]["name"] for e in store.list("/events")] == ["fresh"]
    store.close()


def test_service_cluster_ips_are_unique_reused_when_freed_and_known_after_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    api = Api(store, Registry())
    api.bootstrap()
    services = api.registry.lookup("", "v1", "services")
    assert services is not None

    def create(name: str, **spec: Any) -> str:
        body = {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}
        return str(api.create(services, "default", body)["spec"]["clusterIP"])

    assert [create(f"s{i}") for i in range(3)] == ["10.96.0.2", "10.96.0.3", "10.96.0.4"]
    assert create("headless", clusterIP="None") == "None"
    api.delete(services, "default", "s1", DeleteOptions())
    assert create("again") == "10.96.0.3"  # the freed address is the lowest free one
    with pytest.raises(ApiError) as taken:
        create("same-ip", clusterIP="10.96.0.2")
    assert taken.value.code == 422 and "provided IP is already allocated" in taken.value.message
    assert create("free-ip", clusterIP="10.96.0.9") == "10.96.0.9"
    store.close()
    # a new API server on the same data knows which addresses are taken
    store = Store(tmp_path / "db")
    api = Api(store, Registry())
    api.bootstrap()
    assert create("after-restart") == "10.96.0.5"
    with pytest.raises(ApiError):
        create("same-ip-after-restart", clusterIP="10.96.0.9")
    store.close()
