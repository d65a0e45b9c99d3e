"""Authentication, TLS and the listening address."""

from __future__ import annotations

import ssl
import stat

import aiohttp
import psutil
import pytest
import yaml

from .harness import ServerProcess, kubectl

pytestmark = pytest.mark.timeout(60)
session_loop = pytest.mark.asyncio(loop_scope="session")


def _tls(server: ServerProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))


async def _get(server: ServerProcess, path: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{server.port}{path}", headers=headers, ssl=_tls(server)) as response,
    ):
        return response.status, await response.json(content_type=None)


@session_loop
@pytest.mark.parametrize("path", ["/version", "/api/v1/namespaces", "/apis", "/no/such/path"])
@session_loop
async def test_a_request_without_a_token_gets_401(server: ServerProcess, path: str) -> None:
    status, body = await _get(server, path, None)
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


@session_loop
async def test_a_request_with_a_wrong_token_gets_401(server: ServerProcess) -> None:
    status, _ = await _get(server, "/api/v1/namespaces", "not-the-token")
    assert status == 401


@session_loop
async def test_the_token_from_the_kubeconfig_is_accepted_over_tls_verified_by_its_ca(
    server: ServerProcess,
) -> None:
    config = yaml.safe_load(server.kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    status, body = await _get(server, "/api/v1/namespaces/default", token)
    assert status == 200 and body["metadata"]["name"] == "default"  # type: ignore[index]
    assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{server.port}"


def test_credentials_are_private_files(server: ServerProcess) -> None:
    for path in (server.kubeconfig, server.data_dir / "token", server.data_dir / "pki" / "ca.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_server_listens_on_loopback_only(server: ServerProcess) -> None:
    assert server.process is not None
    listening = [
        c
        for c in psutil.Process(server.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the server has no listening socket"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert {c.laddr.port for c in listening} == {server.port}


def test_kubectl_reports_the_server_version(server: ServerProcess) -> None:
    assert "Server Version: v1.37" in kubectl(server, "version")
