"""HTTP handling of resource requests under /api/v1 and /apis/{group}/{version}: routing of the URL
to (resource, namespace, name, subresource), content negotiation and the verbs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from numaflux.apiserver import apply, patch, protobuf, scale
from numaflux.apiserver.core import Api, DeleteOptions, WriteOptions, timestamp
from numaflux.apiserver.errors import (
    ApiError,
    bad_request,
    conflict,
    flag,
    method_not_allowed,
    not_found,
)
from numaflux.apiserver.listing import Filter, list_body, list_objects, partial_list
from numaflux.apiserver.logs import serve_log
from numaflux.apiserver.resources import ResourceType
from numaflux.apiserver.tables import partial_metadata, table
from numaflux.apiserver.watch import serve_watch, table_renderer
from numaflux.jsondata import clone

JSON = dict[str, Any]

_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


@dataclass(frozen=True)
class Target:
    """What a resource URL addresses."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str
    watch: bool


def json_response(body: JSON, status: int = 200) -> web.Response:
    """A JSON response with the Kubernetes content type."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
    )


def error_response(err: ApiError) -> web.Response:
    """A Status body for an ApiError."""
    response = json_response(err.status(), err.code)
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def _accept_form(request: web.Request) -> str:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        if "as=Table" in part:
            return "table"
        if "as=PartialObjectMetadataList" in part or "as=PartialObjectMetadata" in part:
            return "partial"
        if part.strip().startswith(("application/json", "*/*", "application/yaml")) and "as=" not in part:
            return "object"
    return "object"


async def _read_body(request: web.Request, yaml_ok: bool = True) -> Any:
    raw = await request.read()
    if not raw:
        return None
    ctype = request.content_type
    if ctype == "application/vnd.kubernetes.protobuf":
        return protobuf.decode(raw)
    if "protobuf" in ctype or "cbor" in ctype:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (got {ctype})",
        )
    try:
        if "yaml" in ctype and yaml_ok:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as err:
        raise bad_request(f"the request body could not be decoded as {ctype or 'JSON'}: {err}") from err


class ResourceHandler:
    """Serves every /api/... and /apis/... resource URL."""

    def __init__(self, api: Api, data_dir: Path, bookmark_interval: float = 10.0) -> None:
        self.api = api
        self.data_dir = data_dir
        self.bookmark_interval = bookmark_interval

    def resolve(self, group: str, version: str, segments: list[str]) -> Target:
        """Map the path segments after the group-version prefix to a target."""
        registry = self.api.registry
        watch = False
        if segments and segments[0] == "watch":
            watch, segments = True, segments[1:]
        if not segments:
            raise not_found("", group, "")
        namespace: str | None = None
        if segments[0] == "namespaces" and len(segments) >= 3:
            candidate = registry.lookup(group, version, segments[2])
            if candidate is not None and candidate.namespaced:
                namespace, segments = segments[1], segments[2:]
        rt = registry.lookup(group, version, segments[0])
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = segments[1] if len(segments) > 1 else None
        sub = segments[2] if len(segments) > 2 else ""
        if len(segments) > 3 or (sub and sub not in rt.subresources):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(rt, namespace, name, sub, watch)

    async def handle(
        self, request: web.Request, group: str, version: str, segments: list[str]
    ) -> web.StreamResponse:
        """Dispatch by verb."""
        target = self.resolve(group, version, segments)
        method = request.method
        query = request.query
        if target.watch or (method == "GET" and target.name is None and flag(query.get("watch"))):
            return await self._watch(request, target)
        if target.name is None:
            if method == "GET":
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
            raise method_not_allowed(f"{method} is not supported on the collection {target.rt.plural}")
        if target.subresource == "log":
            if method != "GET":
                raise method_not_allowed("pods/log supports GET only")
            return await serve_log(
                request, self.api, self.data_dir, target.namespace or "default", target.name
            )
        if target.subresource == "scale":
            return await self._scale(request, target)
        if target.subresource == "binding":
            return await self._binding(request, target)
        if method == "GET":
            obj = self.api.get(target.rt, target.namespace or "", target.name)
            return self._render_one(request, target.rt, obj)
        if method == "PUT":
            body = await _read_body(request)
            sub = "status" if target.subresource == "status" else ""
            if target.subresource == "finalize":
                return json_response(self._finalize(target, body, self._write_opts(request)))
            return json_response(
                self.api.update(
                    target.rt, target.namespace or "", target.name, body, sub, self._write_opts(request)
                )
            )
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE":
            body = await _read_body(request)
            if body is not None and not isinstance(body, dict):
                raise bad_request("DeleteOptions must be an object")
            code, result = self.api.delete(
                target.rt, target.namespace or "", target.name, DeleteOptions.parse(body, dict(query))
            )
            return json_response(result, code)
        raise method_not_allowed(f"{method} is not supported")

    # ----- verbs -----
    def _write_opts(self, request: web.Request) -> WriteOptions:
        query = request.query
        return WriteOptions(
            dry_run="All" in query.getall("dryRun", []),
            strict=query.get("fieldValidation", "") == "Strict",
            field_manager=query.get("fieldManager", ""),
        )

    def _render_one(self, request: web.Request, rt: ResourceType, obj: JSON) -> web.Response:
        form = _accept_form(request)
        if form == "table":
            return json_response(
                table(rt, [obj], self.api.clock(), include=request.query.get("includeObject", "Metadata"))
            )
        if form == "partial":
            return json_response(partial_metadata(obj))
        return json_response(obj)

    def _list(self, request: web.Request, target: Target) -> web.Response:
        rt = target.rt
        items, meta = list_objects(self.api, rt, target.namespace, request.query)
        form = _accept_form(request)
        if form == "table":
            return json_response(
                table(
                    rt,
                    items,
                    self.api.clock(),
                    include=request.query.get("includeObject", "Metadata"),
                    list_meta=meta,
                )
            )
        if form == "partial":
            return json_response(partial_list(items, meta))
        return json_response(list_body(rt, items, meta))

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = dict(request.query)
        if target.name is not None:
            existing = query.get("fieldSelector", "")
            query["fieldSelector"] = ",".join(s for s in (existing, f"metadata.name={target.name}") if s)
        form = _accept_form(request)
        rt = target.rt
        render: Callable[[JSON], JSON] | None = None
        if form == "table":
            render = table_renderer(rt, query.get("includeObject", "Metadata"), self.api.clock)
        elif form == "partial":
            render = partial_metadata
        return await serve_watch(
            request, self.api, rt, target.namespace, query, render, self.bookmark_interval
        )

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        if target.rt.namespaced and target.namespace is None:
            raise method_not_allowed(f"create of {target.rt.plural} needs a namespace in the URL")
        body = await _read_body(request)
        obj = self.api.create(target.rt, target.namespace or "", body, self._write_opts(request))
        return json_response(obj, 201)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        body = await _read_body(request)
        options = DeleteOptions.parse(body if isinstance(body, dict) else None, dict(request.query))
        items, _ = list_objects(self.api, target.rt, target.namespace, request.query)
        deleted = []
        for item in items:
            try:
                _, result = self.api.delete(
                    target.rt, item["metadata"].get("namespace", ""), item["metadata"]["name"], options
                )
            except ApiError as err:
                if err.code != 404:
                    raise
                continue
            deleted.append(item if result.get("kind") == "Status" else result)
        return json_response(
            list_body(target.rt, deleted, {"resourceVersion": str(self.api.store.resource_version)})
        )

    def _finalize(self, target: Target, body: Any, opts: WriteOptions) -> JSON:
        assert target.name is not None
        current = self.api.get(target.rt, "", target.name)
        if not isinstance(body, dict):
            raise bad_request("the request body must be a Namespace")
        new = clone(current)
        new.setdefault("spec", {})["finalizers"] = (body.get("spec") or {}).get("finalizers") or []
        return self.api.update(target.rt, "", target.name, new, "", opts)

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None
        rt, ns, name = target.rt, target.namespace or "", target.name
        kind = _PATCH_TYPES.get(request.content_type)
        if kind is None or (kind == "strategic" and rt.crd_name is not None):
            accepted = [
                t for t, k in _PATCH_TYPES.items() if not (k == "strategic" and rt.crd_name is not None)
            ]
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(accepted),
            )
        body = await _read_body(request, yaml_ok=kind == "apply")
        opts = self._write_opts(request)
        sub = "status" if target.subresource == "status" else ""
        if kind == "apply":
            return self._server_side_apply(request, target, body, opts, sub)
        current = self.api.get(rt, ns, name)
        patched = _apply_patch(kind, current, body)
        return json_response(self.api.update(rt, ns, name, patched, sub, opts))

    def _server_side_apply(
        self, request: web.Request, target: Target, body: Any, opts: WriteOptions, sub: str
    ) -> web.Response:
        rt, ns, name = target.rt, target.namespace or "", target.name or ""
        if not opts.field_manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(body, dict):
            raise bad_request("the applied configuration must be an object")
        manager = opts.field_manager
        opts = WriteOptions(dry_run=opts.dry_run, strict=opts.strict)
        applied = {k: v for k, v in body.items() if k not in ("status",) or sub == "status"}
        entry = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": rt.api_version,
            "time": "",
            "fieldsType": "FieldsV1",
            "fieldsV1": apply.fields_v1(
                {k: v for k, v in applied.items() if k not in ("apiVersion", "kind")}
            ),
        }
        try:
            current = self.api.get(rt, ns, name)
        except ApiError as err:
            if err.code != 404 or sub:
                raise
            created = clone(applied)
            created.setdefault("metadata", {})["name"] = name
            entry["time"] = _now_stamp(self.api)
            created["metadata"]["managedFields"] = [entry]
            return json_response(self.api.create(rt, ns, created, opts), 201)
        managed = current["metadata"].get("managedFields") or []
        mine = next(
            (m for m in managed if m.get("manager") == manager and m.get("operation") == "Apply"), None
        )
        others = [m.get("fieldsV1") or {} for m in managed if m is not mine]
        merged = (
            patch.strategic_merge_patch(current, applied)
            if rt.crd_name is None
            else patch.merge_patch(current, applied)
        )
        for path in apply.removed_fields(mine.get("fieldsV1") if mine else None, applied, others):
            apply.drop_path(merged, path)
        entry["time"] = _now_stamp(self.api)
        merged["metadata"]["managedFields"] = [m for m in managed if m is not mine] + [entry]
        merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return json_response(self.api.update(rt, ns, name, merged, sub, opts))

    async def _scale(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None
        rt, ns, name = target.rt, target.namespace or "", target.name
        if request.method == "GET":
            return json_response(scale.get_scale(self.api, rt, ns, name))
        opts = self._write_opts(request)
        if request.method == "PUT":
            body = await _read_body(request)
            if not isinstance(body, dict):
                raise bad_request("the request body must be a Scale")
            return json_response(scale.update_scale(self.api, rt, ns, name, body, opts))
        if request.method == "PATCH":
            kind = _PATCH_TYPES.get(request.content_type)
            if kind is None:
                raise ApiError(
                    415, "UnsupportedMediaType", f"unsupported patch type {request.content_type!r}"
                )
            body = await _read_body(request, yaml_ok=kind == "apply")
            current = scale.get_scale(self.api, rt, ns, name)
            patched = (
                patch.merge_patch(current, body) if kind == "apply" else _apply_patch(kind, current, body)
            )
            return json_response(scale.update_scale(self.api, rt, ns, name, patched, opts))
        raise method_not_allowed(f"{request.method} is not supported on {rt.plural}/scale")

    async def _binding(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None
        if request.method != "POST":
            raise method_not_allowed("pods/binding supports POST only")
        body = await _read_body(request)
        node = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
        if not node:
            raise bad_request("Binding.target.name is required")
        ns = target.namespace or "default"
        pod = self.api.get(target.rt, ns, target.name)
        current_node = (pod.get("spec") or {}).get("nodeName")
        if current_node:
            raise conflict(
                "pods", "", target.name, f'pod {target.name} is already assigned to node "{current_node}"'
            )
        pod["spec"]["nodeName"] = node
        self.api.update(target.rt, ns, target.name, pod, "", self._write_opts(request))
        return json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )


def _apply_patch(kind: str, current: JSON, body: Any) -> JSON:
    if kind == "json":
        result = patch.json_patch(current, body)
    elif kind == "merge":
        if not isinstance(body, dict):
            raise bad_request("a merge patch must be a JSON object")
        result = patch.merge_patch(current, body)
    else:
        if not isinstance(body, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        result = patch.strategic_merge_patch(current, body)
    if not isinstance(result, dict):
        raise bad_request("the patched object is not a JSON object")
    meta = result.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    meta.setdefault("resourceVersion", current["metadata"]["resourceVersion"])
    if "name" not in meta:
        meta["name"] = current["metadata"]["name"]
    return result


def _now_stamp(api: Api) -> str:
    return timestamp(api.clock())


__all__ = ["Filter", "ResourceHandler", "error_response", "json_response"]
