"""Probes against real servers: HTTPS without certificate verification, named ports, exec in the pod."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from numaflux.kubelet.node import Kubelet

from .helpers import POD_IP_ENV, SERVE_HTTP, condition, container_status, eventually, pod, python

pytestmark = pytest.mark.timeout(60)

SERVE_HTTPS = """
import http.server, os, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/sidecar-livez" else 500); self.end_headers()
    def log_message(self, *a): pass
server = http.server.HTTPServer((os.environ["POD_IP"], 2469), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "numa")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_an_https_probe_on_a_named_port_accepts_a_self_signed_certificate(
    kubelet: Kubelet, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    env = [POD_IP_ENV, {"name": "CERT", "value": str(cert)}, {"name": "KEY", "value": str(key)}]
    probe = {"httpGet": {"path": "/sidecar-livez", "port": "metrics", "scheme": "HTTPS"}, "periodSeconds": 1}
    ports = [{"name": "metrics", "containerPort": 2469}]
    p = pod("secure", [python("numa", SERVE_HTTPS, env=env, ports=ports, readinessProbe=probe)])
    kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")


async def test_a_container_not_yet_ready_is_seen_ready_before_its_next_scheduled_probe(
    kubelet: Kubelet,
) -> None:
    # The scheduled probe at start fails (nothing listens for a second) and the next is 60 s away: the
    # container turns Ready from a peek; failed peeks were not counted, the one failed run was.
    code = "import time; time.sleep(1); exec(compile(SERVE, 'serve', 'exec'))"
    env = [POD_IP_ENV, {"name": "SERVE", "value": SERVE_HTTP}]
    probe = {"httpGet": {"path": "/", "port": 2469}, "periodSeconds": 60, "failureThreshold": 50}
    p = pod(
        "peeked",
        [python("numa", "import os; SERVE = os.environ['SERVE']; " + code, env=env, readinessProbe=probe)],
    )
    runtime = kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True", within=40)
    readiness = runtime.mains[0].readiness
    assert (readiness.result, readiness.successes) == (True, 1)


async def test_an_http_error_status_fails_the_probe(kubelet: Kubelet, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = [POD_IP_ENV, {"name": "CERT", "value": str(cert)}, {"name": "KEY", "value": str(key)}]
    probe = {"httpGet": {"path": "/readyz", "port": 2469, "scheme": "HTTPS"}, "periodSeconds": 1}
    p = pod("erroring", [python("numa", SERVE_HTTPS, env=env, readinessProbe=probe)])
    runtime = kubelet.sync_pod(p)
    await eventually(lambda: runtime.mains[0].readiness.failures >= 2)
    assert container_status(kubelet, p, "numa")["ready"] is False


async def test_an_exec_probe_sees_the_pods_private_var_run_numaflow(kubelet: Kubelet) -> None:
    code = "import pathlib, time; pathlib.Path('/var/run/numaflow/ready').touch(); time.sleep(60)"
    probe = {"exec": {"command": ["test", "-f", "/var/run/numaflow/ready"]}, "periodSeconds": 1}
    p = pod("execprobe", [python("main", code, readinessProbe=probe)])
    kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")


async def test_a_startup_probe_that_never_passes_restarts_the_container(kubelet: Kubelet) -> None:
    probe = {"exec": {"command": ["/bin/false"]}, "periodSeconds": 1, "failureThreshold": 2}
    p = pod(
        "neverup",
        [python("main", "import time; time.sleep(60)", startupProbe=probe)],
        terminationGracePeriodSeconds=1,
    )
    kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "main")["restartCount"] >= 1)
    assert container_status(kubelet, p, "main")["started"] is False
    assert condition(kubelet, p, "Ready") == "False"
