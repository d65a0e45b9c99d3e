"""The controller's API client resolves the environment's proxy once instead of on every request."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from numaflux.controller.kube import resolve_environment_once


def _api(host: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = host
    return client.ApiClient(configuration)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


async def test_the_environment_proxy_with_its_credentials_is_taken_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.example:3128")
    api = _api("https://10.0.0.1:6443")
    try:
        resolve_environment_once(api)
        assert api.rest_client.proxy == "http://proxy.example:3128"
        assert api.rest_client.proxy_headers == {"Proxy-Authorization": "Basic dXNlcjpzZWNyZXQ="}
        assert api.rest_client.pool_manager.trust_env is False
    finally:
        await api.close()


async def test_no_proxy_for_a_bypassed_or_unproxied_host(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _api("https://127.0.0.1:6443")
    try:
        resolve_environment_once(api)
        assert api.rest_client.proxy is None
        assert api.rest_client.pool_manager.trust_env is False
    finally:
        await api.close()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "10.0.0.1")
    api = _api("https://10.0.0.1:6443")
    try:
        resolve_environment_once(api)
        assert api.rest_client.proxy is None
    finally:
        await api.close()


async def test_an_explicit_proxy_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    configuration = client.Configuration()
    configuration.host = "https://10.0.0.1:6443"
    configuration.proxy = "http://mine.example:8080"
    api = client.ApiClient(configuration)
    try:
        resolve_environment_once(api)
        assert api.rest_client.proxy == "http://mine.example:8080"
    finally:
        await api.close()
