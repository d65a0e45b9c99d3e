"""The HTTP source (``source.http``): ``POST /vertices/{vertex}`` and ``GET /health``.

HTTPS always (port ``ports.https``, default 8443, self-signed certificate made at start), plain HTTP on
``ports.http`` when set, bound to the pod IP. A request is answered only after its message is written to
the ISB and acked by the source forwarder: 200 ``{"message":"Data received successfully","id":...}``.
401 on a missing/wrong ``Authorization: Bearer <token>`` (when ``auth.token`` is set), 413 above
`max_body` bytes, 409 when the ``X-Numaflow-Id`` is already in flight, 429 when the internal queue (500)
is full, 400 on a bad ``X-Numaflow-Event-Time``, 500 when the message was not written (shutdown).
``X-Numaflow-Id`` (else a UUIDv7) is the message offset; ``X-Numaflow-Event-Time`` is epoch ms (else
now); ``X-Numaflow-Keys`` is comma-separated; other headers except ``Authorization`` become message
headers.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import logging
import os
import ssl
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from numaflux.api import HTTPSource as HTTPSpec
from numaflux.isb import Message, MessageID

log = logging.getLogger(__name__)

QUEUE_SIZE = 500
MAX_BODY = 1024 * 1024
ID_HEADER = "X-Numaflow-Id"
EVENT_TIME_HEADER = "X-Numaflow-Event-Time"
KEYS_HEADER = "X-Numaflow-Keys"
_SKIP_HEADERS = {ID_HEADER.lower(), EVENT_TIME_HEADER.lower(), KEYS_HEADER.lower(), "authorization"}


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string: 48-bit epoch ms, version 7, variant 10, random rest."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (rand >> 68 & 0xFFF) << 64
        | 0b10 << 62
        | rand & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))


def self_signed_context(host: str, directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for `host`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "numaflux-http-source")])
    now = datetime.datetime.now(datetime.UTC)
    san: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        import ipaddress

        san.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        san.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class HTTPSource:
    name = "http"

    def __init__(
        self,
        spec: HTTPSpec,
        *,
        vertex: str,
        host: str,
        token: str | None,
        max_body: int = MAX_BODY,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.spec = spec
        self.vertex = vertex
        self.host = host
        self.token = token
        self.max_body = max_body
        self._queue: asyncio.Queue[Message] = asyncio.Queue(queue_size)
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._runner: web.AppRunner | None = None
        self._stopped = False
        self._stop_event = asyncio.Event()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def connected(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_get("/health", self._health)
        app.router.add_post(f"/vertices/{self.vertex}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._tmp = tempfile.TemporaryDirectory(prefix="nfx-http-")
        ctx = self_signed_context(self.host, Path(self._tmp.name))
        await web.TCPSite(self._runner, self.host, self.spec.get_https_port(), ssl_context=ctx).start()
        log.info("http source: https://%s:%d/vertices/%s", self.host, self.spec.get_https_port(), self.vertex)
        http_port = self.spec.get_http_port()
        if http_port is not None:
            await web.TCPSite(self._runner, self.host, http_port).start()
            log.info("http source: http://%s:%d/vertices/%s", self.host, http_port, self.vertex)

    def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()  # a read waiting for the first message returns now, not after its wait

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _post(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self._stopped:
            return web.json_response({"error": "source is shutting down"}, status=500)
        if request.content_length is not None and request.content_length > self.max_body:
            return web.json_response({"error": f"request body exceeds {self.max_body} bytes"}, status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"request body exceeds {self.max_body} bytes"}, status=413)
        msg_id = request.headers.get(ID_HEADER) or uuid7()
        if msg_id in self._waiting:
            return web.json_response({"error": f"id {msg_id} is already in flight"}, status=409)
        raw_time = request.headers.get(EVENT_TIME_HEADER)
        try:
            event_ms = int(raw_time) if raw_time else int(time.time() * 1000)
        except ValueError:
            return web.json_response({"error": f"{EVENT_TIME_HEADER}: not epoch milliseconds"}, status=400)
        raw_keys = request.headers.get(KEYS_HEADER)
        keys = tuple(raw_keys.split(",")) if raw_keys else ()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
        msg = Message(body, MessageID(self.vertex, msg_id, 0), event_ms * 1_000_000, keys, headers)
        try:
            self._queue.put_nowait(msg)
        except asyncio.QueueFull:
            return web.json_response({"error": "too many requests in flight"}, status=429)
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = done
        try:
            written = await done
        finally:
            self._waiting.pop(msg_id, None)
        if not written:
            return web.json_response({"error": "message was not written", "id": msg_id}, status=500)
        return web.json_response({"message": "Data received successfully", "id": msg_id})

    async def read(self, max_messages: int, wait: float) -> list[Message]:
        q = self._queue
        if q.empty():
            if self._stopped:
                return []
            getter = asyncio.ensure_future(q.get())
            stopping = asyncio.ensure_future(self._stop_event.wait())
            try:
                await asyncio.wait((getter, stopping), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                if not getter.done():
                    getter.cancel()  # Queue.get gives up its place; no message is taken
            if not getter.done() or getter.cancelled():
                return []
            out = [getter.result()]
        else:
            out = []
        while len(out) < max_messages and not q.empty():
            out.append(q.get_nowait())
        return out

    def _settle(self, messages: Sequence[Message], written: bool) -> None:
        for m in messages:
            fut = self._waiting.get(m.id.offset)
            if fut is not None and not fut.done():
                fut.set_result(written)

    async def ack(self, messages: Sequence[Message]) -> None:
        self._settle(messages, True)

    async def nack(self, messages: Sequence[Message]) -> None:
        self._settle(messages, False)

    async def pending(self) -> int | None:
        return self._queue.qsize()

    async def close(self) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result(False)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
