"""The vertex process's configuration, read from the pod environment as NumaFlow's numa container gets it.

Required: ``NUMAFLOW_VERTEX_OBJECT`` (base64 JSON Vertex), ``NUMAFLOW_ISBSVC_JETSTREAM_URL``.
Optional: ``NUMAFLOW_REPLICA`` (0), ``NUMAFLOW_PIPELINE_NAME`` / ``NUMAFLOW_NAMESPACE`` /
``NUMAFLOW_VERTEX_NAME`` (default: from the Vertex object), ``NUMAFLOW_ISBSVC_JETSTREAM_USER`` /
``..._PASSWORD`` / ``..._TLS_ENABLED``, ``NUMAFLOW_GRACEFUL_TIMEOUT_SECS`` (20), and numaflux's own
``NUMAFLUX_UDF_DIR`` (socket dir, default /var/run/numaflow), ``NUMAFLUX_POD_IP`` (bind address,
default 127.0.0.1), ``NUMAFLUX_METRICS_PORT`` (2469), ``NUMAFLUX_HTTP_SOURCE_TOKEN`` (HTTP source bearer
token, set by the pod spec from the secret with ``valueFrom.secretKeyRef``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numaflux.api import Vertex, constants
from numaflux.api.envcodec import ObjectDecodeError, decode_object, encode_object

ENV_VERTEX_OBJECT = "NUMAFLOW_VERTEX_OBJECT"
ENV_REPLICA = "NUMAFLOW_REPLICA"
ENV_PIPELINE_NAME = "NUMAFLOW_PIPELINE_NAME"
ENV_NAMESPACE = "NUMAFLOW_NAMESPACE"
ENV_VERTEX_NAME = "NUMAFLOW_VERTEX_NAME"
ENV_POD = "NUMAFLOW_POD"
ENV_ISBSVC_TYPE = "NUMAFLOW_ISBSVC_TYPE"
ENV_JETSTREAM_URL = "NUMAFLOW_ISBSVC_JETSTREAM_URL"
ENV_JETSTREAM_USER = "NUMAFLOW_ISBSVC_JETSTREAM_USER"
ENV_JETSTREAM_PASSWORD = "NUMAFLOW_ISBSVC_JETSTREAM_PASSWORD"
ENV_JETSTREAM_TLS = "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED"
ENV_GRACEFUL_TIMEOUT = "NUMAFLOW_GRACEFUL_TIMEOUT_SECS"
ENV_UDF_DIR = "NUMAFLUX_UDF_DIR"
ENV_POD_IP = "NUMAFLUX_POD_IP"
ENV_METRICS_PORT = "NUMAFLUX_METRICS_PORT"
ENV_HTTP_SOURCE_TOKEN = "NUMAFLUX_HTTP_SOURCE_TOKEN"

DEFAULT_UDF_DIR = "/var/run/numaflow"
DEFAULT_POD_IP = "127.0.0.1"
DEFAULT_GRACEFUL_TIMEOUT = 20.0
SECRETS_DIR = Path("/var/numaflow/secrets")


class ConfigError(ValueError):
    """A pod environment variable is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class VertexConfig:
    """Everything the vertex process needs from its environment."""

    vertex: Vertex
    vertex_name: str
    pipeline: str
    namespace: str
    replica: int
    pod: str
    isb_url: str
    isb_user: str | None
    isb_password: str | None
    isb_tls: bool
    udf_dir: Path
    pod_ip: str
    metrics_port: int
    graceful_timeout: float
    http_source_token: str | None

    @property
    def processor_name(self) -> str:
        """Watermark processor key of this pod: ``{vertex}-{replica}``."""
        return f"{self.vertex_name}-{self.replica}"


def decode_vertex(value: str) -> Vertex:
    """The Vertex from NUMAFLOW_VERTEX_OBJECT's base64 JSON; ConfigError names the variable."""
    try:
        return decode_object(value, Vertex, env_name=ENV_VERTEX_OBJECT, kind=constants.KIND_VERTEX)
    except ObjectDecodeError as err:
        raise ConfigError(str(err)) from err


def encode_vertex(vertex: Vertex) -> str:
    """Base64 JSON of `vertex`, the NUMAFLOW_VERTEX_OBJECT value the controller sets."""
    return encode_object(vertex)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as err:
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from err


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as err:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from err


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def http_source_token(vertex: Vertex, env: Mapping[str, str], secrets_dir: Path = SECRETS_DIR) -> str | None:
    """The HTTP source's bearer token: NUMAFLUX_HTTP_SOURCE_TOKEN (from the secret via ``secretKeyRef``),
    else the secret mounted at ``{secrets_dir}/{name}/{key}``; None when ``auth.token`` is not set."""
    source = vertex.spec.source
    http = source.http if source is not None else None
    selector = http.auth.token if http is not None and http.auth is not None else None
    if not selector:
        return None
    token = env.get(ENV_HTTP_SOURCE_TOKEN)
    if token:
        return token
    name, key = selector.get("name"), selector.get("key")
    path = secrets_dir / str(name) / str(key)
    try:
        return path.read_text().strip()
    except OSError as err:
        raise ConfigError(
            f"source.http.auth.token: set {ENV_HTTP_SOURCE_TOKEN} from secret {name!r} key {key!r} "
            f"(or mount it at {path}): {err}"
        ) from err


def load_config(env: Mapping[str, str] | None = None) -> VertexConfig:
    """Read and check the pod environment; raises ConfigError naming the offending variable."""
    env = os.environ if env is None else env
    raw = env.get(ENV_VERTEX_OBJECT)
    if not raw:
        raise ConfigError(f"{ENV_VERTEX_OBJECT}: not set (base64 JSON of the Vertex object)")
    vertex = decode_vertex(raw)
    isb_type = env.get(ENV_ISBSVC_TYPE, "jetstream") or "jetstream"
    if isb_type != "jetstream":
        raise ConfigError(f"{ENV_ISBSVC_TYPE}: only 'jetstream' is supported, got {isb_type!r}")
    url = env.get(ENV_JETSTREAM_URL)
    if not url:
        raise ConfigError(f"{ENV_JETSTREAM_URL}: not set (the ISB service's nats:// URL)")
    replica = _int(env, ENV_REPLICA, 0)
    if replica < 0:
        raise ConfigError(f"{ENV_REPLICA}: must be >= 0, got {replica}")
    vertex_name = env.get(ENV_VERTEX_NAME) or vertex.spec.get_name()
    if not vertex_name:
        raise ConfigError(f"{ENV_VERTEX_NAME}: not set and the Vertex object has no spec.name")
    pipeline = env.get(ENV_PIPELINE_NAME) or vertex.spec.pipeline_name or ""
    if not pipeline:
        raise ConfigError(f"{ENV_PIPELINE_NAME}: not set and the Vertex object has no spec.pipelineName")
    namespace = env.get(ENV_NAMESPACE) or vertex.namespace
    if not namespace:
        raise ConfigError(f"{ENV_NAMESPACE}: not set and the Vertex object has no metadata.namespace")
    port = _int(env, ENV_METRICS_PORT, constants.VERTEX_METRICS_PORT)
    if not 0 < port < 65536:
        raise ConfigError(f"{ENV_METRICS_PORT}: not a port: {port}")
    return VertexConfig(
        vertex=vertex,
        vertex_name=vertex_name,
        pipeline=pipeline,
        namespace=namespace,
        replica=replica,
        pod=env.get(ENV_POD) or f"{vertex.name or vertex_name}-{replica}",
        isb_url=url,
        isb_user=env.get(ENV_JETSTREAM_USER) or None,
        isb_password=env.get(ENV_JETSTREAM_PASSWORD) or None,
        isb_tls=_bool(env, ENV_JETSTREAM_TLS),
        udf_dir=Path(env.get(ENV_UDF_DIR) or DEFAULT_UDF_DIR),
        pod_ip=env.get(ENV_POD_IP) or DEFAULT_POD_IP,
        metrics_port=port,
        graceful_timeout=_float(env, ENV_GRACEFUL_TIMEOUT, DEFAULT_GRACEFUL_TIMEOUT),
        http_source_token=http_source_token(vertex, env),
    )
