"""Discovery documents (/api, /apis, per group-version resource lists, aggregated apidiscovery v2) and the
OpenAPI documents kubectl uses to decide on server-side field validation and for `kubectl explain`.

OpenAPI v3: every resource gets a PATCH operation carrying `x-kubernetes-group-version-kind` and the
`fieldValidation` query parameter (so kubectl validates on the server), and a component schema: the
CRD's openAPIV3Schema for custom resources, the schema derived from kubernetes_asyncio's models for
built-in kinds (see builtin_schema). Strategic merge patch is deliberately not listed as a PATCH body
type, so kubectl computes patches for built-in kinds from its compiled-in types and uses JSON merge
patch for custom resources. /openapi/v2 is a minimal protobuf document (see protobuf.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

from numaflux.apiserver import builtin_schema
from numaflux.apiserver.resources import Registry, ResourceType

JSON = dict[str, Any]

KUBE_VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-numaflux", "platform": "linux/amd64"}


def version_info() -> JSON:
    """The /version document."""
    return {
        **KUBE_VERSION,
        "gitCommit": "numaflux",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "36",
    }


def api_versions(server_address: str) -> JSON:
    """The /api document."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list(registry: Registry) -> JSON:
    """The /apis document."""
    groups = []
    for group, versions in registry.group_versions().items():
        if not group:
            continue
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> JSON | None:
    """The /apis/{group} document."""
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def _storage_hash(rt: ResourceType) -> str:
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _resource_entries(rt: ResourceType) -> list[JSON]:
    main: JSON = {
        "name": rt.plural,
        "singularName": rt.singular_name,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
        "storageVersionHash": _storage_hash(rt),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    entries = [main]
    for sub in sorted(rt.subresources):
        entry: JSON = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
        }
        if sub == "status":
            entry["verbs"] = ["get", "patch", "update"]
        elif sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"])
        elif sub == "log":
            entry.update(kind="Pod", verbs=["get"])
        elif sub == "binding":
            entry.update(kind="Binding", verbs=["create"])
        elif sub == "finalize":
            entry["verbs"] = ["update"]
        entries.append(entry)
    return entries


def resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    """The APIResourceList of one group-version, or None if it is not served."""
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    resources = [entry for rt in types for entry in _resource_entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# ----- aggregated discovery (apidiscovery.k8s.io/v2) -----
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """Whether the Accept header asks for apidiscovery.k8s.io/v2 APIGroupDiscoveryList."""
    return any(
        "g=apidiscovery.k8s.io" in part
        and "v=v2" in part.replace("v=v2beta1", "")
        and "as=APIGroupDiscoveryList" in part
        for part in accept.split(",")
    )


def _aggregated_resource(rt: ResourceType) -> JSON:
    entry: JSON = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular_name,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in sorted(rt.subresources):
        kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        verbs = ["get", "patch", "update"]
        if sub == "scale":
            kind = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        elif sub == "log":
            kind, verbs = {"group": "", "version": "v1", "kind": "Pod"}, ["get"]
        elif sub == "binding":
            kind, verbs = {"group": "", "version": "v1", "kind": "Binding"}, ["create"]
        elif sub == "finalize":
            verbs = ["update"]
        subs.append({"subresource": sub, "responseKind": kind, "verbs": verbs})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(registry: Registry, legacy: bool) -> JSON:
    """The APIGroupDiscoveryList of /api (legacy=True) or of /apis."""
    items = []
    for group, versions in registry.group_versions().items():
        if bool(group) == legacy:
            continue
        entries = []
        for version in versions:
            types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
            entries.append(
                {
                    "version": version,
                    "resources": [_aggregated_resource(rt) for rt in types],
                    "freshness": "Current",
                }
            )
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


# ----- OpenAPI v3 -----
_OBJECT_META = {
    "description": "Standard object's metadata.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {
            "type": "string",
            "description": "Prefix the server uses to generate a unique name.",
        },
        "namespace": {
            "type": "string",
            "description": "Namespace defines the space within which each name must be unique.",
        },
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Map of string keys and values used to organize and categorize objects.",
        },
        "annotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Unstructured key value map stored with a resource.",
        },
        "uid": {
            "type": "string",
            "description": "UID is the unique in time and space value for this object.",
        },
        "resourceVersion": {
            "type": "string",
            "description": "An opaque value that represents the internal version of this object.",
        },
        "generation": {
            "type": "integer",
            "format": "int64",
            "description": "A sequence number representing a specific generation of the desired state.",
        },
        "creationTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Server time when this object was created.",
        },
        "deletionTimestamp": {
            "type": "string",
            "format": "date-time",
            "description": "Time at which this resource will be deleted.",
        },
        "deletionGracePeriodSeconds": {
            "type": "integer",
            "format": "int64",
            "description": "Seconds allowed for graceful termination.",
        },
        "finalizers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Must be empty before the object is deleted from the registry.",
        },
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "description": "Objects depended by this object.",
        },
        "managedFields": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "description": "Field ownership records.",
        },
    },
}
_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _schema_name(rt: ResourceType) -> str:
    if rt.crd_name is not None:
        reversed_group = ".".join(reversed(rt.group.split(".")))
        return f"{reversed_group}.{rt.version}.{rt.kind}"
    group = rt.group.split(".")[0] if rt.group else "core"
    return f"io.k8s.api.{group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> JSON:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _component(rt: ResourceType) -> JSON:
    body: JSON
    if rt.schema:
        body = copy.deepcopy(rt.schema)
    else:
        body = {
            "type": "object",
            "description": f"{rt.kind} ({rt.api_version}) served by the numaflux local API server.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    props = body.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }
    props["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    }
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{_META_REF}"}],
        "description": "Standard object's metadata.",
        "default": {},
    }
    body["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return body


def _paths(rt: ResourceType, name: str) -> dict[str, JSON]:
    prefix = f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
    scope = "/namespaces/{namespace}" if rt.namespaced else ""
    ref = {"$ref": f"#/components/schemas/{name}"}
    params = [
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    ]
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    ext = {"x-kubernetes-group-version-kind": _gvk(rt)}
    patch_body = {
        "content": {
            t: {"schema": {"type": "object"}}
            for t in (
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            )
        }
    }
    item = {
        "get": {"operationId": f"read{rt.kind}", "responses": ok, **ext, "x-kubernetes-action": "get"},
        "put": {
            "operationId": f"replace{rt.kind}",
            "parameters": params,
            "requestBody": {"content": {"application/json": {"schema": ref}}},
            "responses": ok,
            **ext,
            "x-kubernetes-action": "put",
        },
        "patch": {
            "operationId": f"patch{rt.kind}",
            "parameters": [
                *params,
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}},
            ],
            "requestBody": patch_body,
            "responses": ok,
            **ext,
            "x-kubernetes-action": "patch",
        },
        "delete": {
            "operationId": f"delete{rt.kind}",
            "responses": ok,
            **ext,
            "x-kubernetes-action": "delete",
        },
        "parameters": [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "uniqueItems": True},
            }
        ],
    }
    collection = {
        "get": {"operationId": f"list{rt.kind}", "responses": ok, **ext, "x-kubernetes-action": "list"},
        "post": {
            "operationId": f"create{rt.kind}",
            "parameters": params,
            "requestBody": {"content": {"application/json": {"schema": ref}}},
            "responses": ok,
            **ext,
            "x-kubernetes-action": "post",
        },
    }
    return {f"{prefix}{scope}/{rt.plural}": collection, f"{prefix}{scope}/{rt.plural}/{{name}}": item}


def openapi_v3_document(registry: Registry, group: str, version: str) -> JSON | None:
    """The OpenAPI v3 document of one group-version."""
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    schemas: JSON = {_META_REF: _OBJECT_META}
    paths: JSON = {}
    for rt in types:
        derived = builtin_schema.openapi_components(rt.api_version, rt.kind) if rt.crd_name is None else None
        if derived is None:
            name = _schema_name(rt)
            schemas[name] = _component(rt)
        else:
            name, components = derived
            schemas.update(components)
            schemas[name] = {**components[name], "x-kubernetes-group-version-kind": [_gvk(rt)]}
        paths.update(_paths(rt, name))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_v3_root(registry: Registry) -> JSON:
    """The /openapi/v3 index: one entry per served group-version with a content hash."""
    paths: JSON = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            key = f"api/{version}" if not group else f"apis/{group}/{version}"
            doc = openapi_v3_document(registry, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
