"""The aiohttp application: bearer-token authentication, Status error bodies, discovery, OpenAPI and
resource routes."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from numaflux.apiserver import discovery, protobuf
from numaflux.apiserver.core import Api
from numaflux.apiserver.errors import ApiError
from numaflux.apiserver.handlers import ResourceHandler, error_response, json_response

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized() -> web.Response:
    return error_response(ApiError(401, "Unauthorized", "Unauthorized"))


def build_app(api: Api, token: str, data_dir: Path, bookmark_interval: float = 10.0) -> web.Application:
    """The application serving the Kubernetes API for `api`."""
    expected = f"Bearer {token}".encode()
    resources = ResourceHandler(api, data_dir, bookmark_interval)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _unauthorized()
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)
        except web.HTTPNotFound:
            return error_response(
                ApiError(404, "NotFound", "the server could not find the requested resource")
            )
        except web.HTTPMethodNotAllowed:
            return error_response(
                ApiError(405, "MethodNotAllowed", f"{request.method} is not supported here")
            )
        except web.HTTPException:
            raise
        except (ConnectionResetError, ConnectionError):
            raise
        except Exception as err:
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return error_response(ApiError(500, "InternalError", f"Internal error occurred: {err}"))

    async def version(request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok", content_type="text/plain")

    def aggregated(request: web.Request, legacy: bool) -> web.Response | None:
        if not discovery.wants_aggregated(request.headers.get("Accept", "")):
            return None
        response = json_response(discovery.aggregated_discovery(api.registry, legacy))
        response.headers["Content-Type"] = discovery.AGGREGATED_CONTENT_TYPE
        return response

    async def core_versions(request: web.Request) -> web.Response:
        return aggregated(request, True) or json_response(discovery.api_versions(request.host))

    async def groups(request: web.Request) -> web.Response:
        return aggregated(request, False) or json_response(discovery.api_group_list(api.registry))

    async def core_resources(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        segments = [s for s in tail.split("/") if s]
        version_name = request.match_info["version"]
        if not segments:
            doc = discovery.resource_list(api.registry, "", version_name)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        if version_name != "v1":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await resources.handle(request, "", version_name, segments)

    async def group_resources(request: web.Request) -> web.StreamResponse:
        group = request.match_info["group"]
        tail = request.match_info.get("tail", "")
        segments = [s for s in tail.split("/") if s]
        if not segments:
            return group_doc(group)
        version_name, rest = segments[0], segments[1:]
        if not rest:
            doc = discovery.resource_list(api.registry, group, version_name)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(doc)
        if discovery.resource_list(api.registry, group, version_name) is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await resources.handle(request, group, version_name, rest)

    def group_doc(group: str) -> web.Response:
        doc = discovery.api_group(api.registry, group)
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(doc)

    async def openapi_root(request: web.Request) -> web.Response:
        return json_response(discovery.openapi_v3_root(api.registry))

    async def openapi_doc(request: web.Request) -> web.Response:
        parts = [s for s in request.match_info["tail"].split("/") if s]
        doc = None
        if len(parts) == 2 and parts[0] == "api":
            doc = discovery.openapi_v3_document(api.registry, "", parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.openapi_v3_document(api.registry, parts[1], parts[2])
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(doc)

    async def openapi_v2(request: web.Request) -> web.Response:
        version = discovery.KUBE_VERSION["gitVersion"]
        if "protobuf" in request.headers.get("Accept", ""):
            return web.Response(
                body=protobuf.openapi_v2_document("Kubernetes", version),
                content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
        return json_response(
            {"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}}
        )

    app = web.Application(middlewares=[middleware], client_max_size=8 * 1024 * 1024)
    app.router.add_get("/version", version)
    for path in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(path, health)
    app.router.add_get("/api", core_versions)
    app.router.add_route("*", "/api/{version}{tail:(/.*)?}", core_resources)
    app.router.add_get("/apis", groups)
    app.router.add_route("*", "/apis/{group}{tail:(/.*)?}", group_resources)
    app.router.add_get("/openapi/v3", openapi_root)
    app.router.add_get("/openapi/v3/{tail:.*}", openapi_doc)
    app.router.add_get("/openapi/v2", openapi_v2)
    return app
