"""Decoding of Kubernetes protobuf request bodies for the kinds kubectl's typed clients send that way.

kubectl's imperative `create namespace|configmap|secret|serviceaccount|deployment` commands send
`application/vnd.kubernetes.protobuf` bodies (the `k8s\\x00` envelope around a runtime.Unknown). This
module decodes those kinds into their JSON form, driven by field tables taken from the published
generated.proto numbering. A field outside the tables is not dropped: the request is refused with 415
naming the field, so the client can send JSON or YAML (`kubectl apply -f`) instead.
Responses are always JSON; clients accept that.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from numaflux.apiserver.errors import ApiError

JSON = dict[str, Any]
# field number -> (json name, kind, nested table or None, repeated)
Table = dict[int, tuple[str, str, "Table | None", bool]]

MAGIC = b"k8s\x00"

_TIME: Table = {1: ("seconds", "int", None, False), 2: ("nanos", "int", None, False)}
_OWNER_REF: Table = {
    1: ("kind", "string", None, False),
    3: ("name", "string", None, False),
    4: ("uid", "string", None, False),
    5: ("apiVersion", "string", None, False),
    6: ("controller", "bool*", None, False),
    7: ("blockOwnerDeletion", "bool*", None, False),
}
_META: Table = {
    1: ("name", "string", None, False),
    2: ("generateName", "string", None, False),
    3: ("namespace", "string", None, False),
    5: ("uid", "string", None, False),
    6: ("resourceVersion", "string", None, False),
    7: ("generation", "int", None, False),
    8: ("creationTimestamp", "time", _TIME, False),
    11: ("labels", "map_ss", None, False),
    12: ("annotations", "map_ss", None, False),
    13: ("ownerReferences", "msg", _OWNER_REF, True),
    14: ("finalizers", "string", None, True),
}
_OBJECT_REF: Table = {
    1: ("kind", "string", None, False),
    2: ("namespace", "string", None, False),
    3: ("name", "string", None, False),
    4: ("uid", "string", None, False),
    5: ("apiVersion", "string", None, False),
    6: ("resourceVersion", "string", None, False),
    7: ("fieldPath", "string", None, False),
}
_LOCAL_REF: Table = {1: ("name", "string", None, False)}
_LABEL_REQ: Table = {
    1: ("key", "string", None, False),
    2: ("operator", "string", None, False),
    3: ("values", "string", None, True),
}
_SELECTOR: Table = {
    1: ("matchLabels", "map_ss", None, False),
    2: ("matchExpressions", "msg", _LABEL_REQ, True),
}
_INT_OR_STRING: Table = {
    1: ("type", "int", None, False),
    2: ("intVal", "int", None, False),
    3: ("strVal", "string", None, False),
}
_PORT: Table = {
    1: ("name", "string", None, False),
    2: ("hostPort", "int", None, False),
    3: ("containerPort", "int", None, False),
    4: ("protocol", "string", None, False),
    5: ("hostIP", "string", None, False),
}
_ENV: Table = {1: ("name", "string", None, False), 2: ("value", "string", None, False)}
_QUANTITY: Table = {1: ("string", "string", None, False)}
_RESOURCES: Table = {1: ("limits", "map_sq", None, False), 2: ("requests", "map_sq", None, False)}
_CONTAINER: Table = {
    1: ("name", "string", None, False),
    2: ("image", "string", None, False),
    3: ("command", "string", None, True),
    4: ("args", "string", None, True),
    5: ("workingDir", "string", None, False),
    6: ("ports", "msg", _PORT, True),
    7: ("env", "msg", _ENV, True),
    8: ("resources", "msg", _RESOURCES, False),
    13: ("terminationMessagePath", "string", None, False),
    14: ("imagePullPolicy", "string", None, False),
    16: ("stdin", "bool", None, False),
    18: ("tty", "bool", None, False),
    20: ("terminationMessagePolicy", "string", None, False),
}
_POD_SPEC: Table = {
    2: ("containers", "msg", _CONTAINER, True),
    3: ("restartPolicy", "string", None, False),
    4: ("terminationGracePeriodSeconds", "int*", None, False),
    6: ("dnsPolicy", "string", None, False),
    7: ("nodeSelector", "map_ss", None, False),
    8: ("serviceAccountName", "string", None, False),
    10: ("nodeName", "string", None, False),
    20: ("initContainers", "msg", _CONTAINER, True),
}
_POD_TEMPLATE: Table = {1: ("metadata", "msg", _META, False), 2: ("spec", "msg", _POD_SPEC, False)}
_ROLLING: Table = {
    1: ("maxUnavailable", "intorstr", _INT_OR_STRING, False),
    2: ("maxSurge", "intorstr", _INT_OR_STRING, False),
}
_STRATEGY: Table = {1: ("type", "string", None, False), 2: ("rollingUpdate", "msg", _ROLLING, False)}
_DEPLOYMENT_SPEC: Table = {
    1: ("replicas", "int*", None, False),
    2: ("selector", "msg", _SELECTOR, False),
    3: ("template", "msg", _POD_TEMPLATE, False),
    4: ("strategy", "msg", _STRATEGY, False),
    5: ("minReadySeconds", "int", None, False),
    6: ("revisionHistoryLimit", "int*", None, False),
    7: ("paused", "bool", None, False),
    9: ("progressDeadlineSeconds", "int*", None, False),
}
_EMPTY: Table = {}

KINDS: dict[str, Table] = {
    "Namespace": {
        1: ("metadata", "msg", _META, False),
        2: ("spec", "msg", {1: ("finalizers", "string", None, True)}, False),
        3: ("status", "msg", {1: ("phase", "string", None, False)}, False),
    },
    "ConfigMap": {
        1: ("metadata", "msg", _META, False),
        2: ("data", "map_ss", None, False),
        3: ("binaryData", "map_sb", None, False),
        4: ("immutable", "bool*", None, False),
    },
    "Secret": {
        1: ("metadata", "msg", _META, False),
        2: ("data", "map_sb", None, False),
        3: ("type", "string", None, False),
        4: ("stringData", "map_ss", None, False),
        5: ("immutable", "bool*", None, False),
    },
    "ServiceAccount": {
        1: ("metadata", "msg", _META, False),
        2: ("secrets", "msg", _OBJECT_REF, True),
        3: ("imagePullSecrets", "msg", _LOCAL_REF, True),
        4: ("automountServiceAccountToken", "bool*", None, False),
    },
    "Deployment": {
        1: ("metadata", "msg", _META, False),
        2: ("spec", "msg", _DEPLOYMENT_SPEC, False),
        3: ("status", "msg", _EMPTY, False),
    },
}


def _unsupported(detail: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the protobuf body could not be decoded by this server ({detail}); "
        "send application/json or application/yaml instead (for example kubectl apply -f)",
    )


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _unsupported("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    out = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = data[pos : pos + length]
            pos += length
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise _unsupported(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _map_entry(raw: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, item in _fields(raw):
        if number == 1:
            key = bytes(item).decode()
        elif number == 2:
            value = bytes(item)
    return key, value


def _decode(data: bytes, table: Table, where: str) -> JSON:
    out: JSON = {}
    for number, _, value in _fields(data):
        if number not in table:
            # Go's protobuf encoder writes unset non-pointer fields as zero values: those carry nothing.
            if value in (0, b"") or (isinstance(value, bytes | memoryview) and not bytes(value)):
                continue
            raise _unsupported(f"field {number} of {where or 'the object'} is not supported")
        name, kind, nested, repeated = table[number]
        path = f"{where}.{name}" if where else name
        decoded: Any
        if kind == "string":
            decoded = bytes(value).decode()
            if not decoded and not repeated:
                continue
        elif kind in ("int", "int*"):
            decoded = _signed(value)
            if not decoded and kind == "int":
                continue
        elif kind in ("bool", "bool*"):
            decoded = bool(value)
            if not decoded and kind == "bool":
                continue
        elif kind == "msg":
            assert nested is not None
            decoded = _decode(bytes(value), nested, path)
        elif kind == "time":
            parts = _decode(bytes(value), _TIME, path)
            if not parts.get("seconds"):
                continue
            when = dt.datetime.fromtimestamp(parts.get("seconds", 0), dt.UTC)
            decoded = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind == "intorstr":
            parts = _decode(bytes(value), _INT_OR_STRING, path)
            decoded = parts.get("strVal", "") if parts.get("type") == 1 else parts.get("intVal", 0)
        elif kind in ("map_ss", "map_sb", "map_sq"):
            key, raw = _map_entry(bytes(value))
            target = out.setdefault(name, {})
            if kind == "map_ss":
                target[key] = raw.decode()
            elif kind == "map_sb":
                target[key] = base64.b64encode(raw).decode()
            else:
                target[key] = _decode(raw, _QUANTITY, path).get("string", "")
            continue
        else:
            raise _unsupported(f"field kind {kind}")
        if repeated:
            out.setdefault(name, []).append(decoded)
        else:
            out[name] = decoded
    return out


def decode(body: bytes) -> JSON:
    """A protobuf-encoded Kubernetes object as JSON; 415 when it cannot be decoded faithfully."""
    if not body.startswith(MAGIC):
        raise _unsupported("missing the k8s protobuf envelope")
    envelope = {n: v for n, _, v in _fields(body[len(MAGIC) :])}
    type_meta = _decode(
        bytes(envelope.get(1, b"")),
        {1: ("apiVersion", "string", None, False), 2: ("kind", "string", None, False)},
        "typeMeta",
    )
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise _unsupported(f"kind {kind or '<none>'} is not decoded from protobuf")
    obj = _decode(bytes(envelope.get(2, b"")), KINDS[kind], "")
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _encode_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def openapi_v2_document(title: str, version: str) -> bytes:
    """A minimal OpenAPI v2 document (gnostic openapi_v2.Document: swagger, info, empty paths).

    kubectl downloads /openapi/v2 only for kinds the v3 documents do not describe (for example a
    manifest whose CRD is not installed); with no definitions it skips client-side validation, and
    the request then fails on the missing kind, as against a real cluster.
    """
    info = _encode_field(1, title.encode()) + _encode_field(2, version.encode())
    return _encode_field(1, b"2.0") + _encode_field(2, info) + _encode_field(8, b"")
