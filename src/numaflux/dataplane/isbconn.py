"""Connecting the vertex process to the ISB service (URL, user/password, TLS from the pod env)."""

from __future__ import annotations

import ssl
from urllib.parse import quote, urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NATS

from numaflux.dataplane.config import VertexConfig
from numaflux.isb import connect
from numaflux.isb.connection import PENDING_BYTES


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """`url` with `user:password@` in it (unchanged when no user is given)."""
    if not user:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{quote(user, safe='')}:{quote(password or '', safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def connect_isb(config: VertexConfig) -> NATS:
    """Connect as NumaFlow pods do: TLS without verification (the ISB's self-signed certificate)."""
    url = with_credentials(config.isb_url, config.isb_user, config.isb_password)
    name = f"{config.pipeline}-{config.vertex_name}-{config.replica}"
    if not config.isb_tls:
        return await connect(url, name=name)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return await nats.connect(
        url,
        name=name,
        tls=ctx,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        pending_size=PENDING_BYTES,
    )
