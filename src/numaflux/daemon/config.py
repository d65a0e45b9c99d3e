"""The daemon's configuration from its pod environment.

Required: ``NUMAFLOW_PIPELINE_OBJECT`` (base64 JSON Pipeline), ``NUMAFLOW_ISBSVC_JETSTREAM_URL``.
Optional: ``NUMAFLOW_NAMESPACE`` (default: the Pipeline's metadata.namespace), ``NUMAFLOW_ISBSVC_TYPE``
(only ``jetstream``), ``NUMAFLOW_ISBSVC_JETSTREAM_USER`` / ``_PASSWORD`` / ``_TLS_ENABLED``,
``NUMAFLUX_POD_IP`` (bind address, 127.0.0.1), ``NUMAFLUX_DAEMON_PORT`` (4327, plain HTTP),
``NUMAFLUX_DAEMON_HEALTH_STEP`` (10 s), ``NUMAFLUX_DAEMON_SCRAPE_INTERVAL`` (5 s),
``NUMAFLUX_DAEMON_DISCOVERY_INTERVAL`` (30 s),
``NUMAFLUX_DAEMON_LOOKBACK_INTERVAL`` (30 s), ``NUMAFLUX_DAEMON_POD_DISCOVERY`` (``auto`` | ``kubernetes``
| ``headless`` | ``static``), ``NUMAFLUX_DAEMON_STATIC_PODS`` (JSON ``{"vertex": {"0": "http://ip:port/metrics"}}``
for ``static``), ``KUBECONFIG``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from numaflux.api import Pipeline, constants
from numaflux.api.envcodec import ObjectDecodeError, decode_object, encode_object

ENV_PIPELINE_OBJECT = "NUMAFLOW_PIPELINE_OBJECT"
ENV_NAMESPACE = "NUMAFLOW_NAMESPACE"
ENV_ISBSVC_TYPE = "NUMAFLOW_ISBSVC_TYPE"
ENV_JETSTREAM_URL = "NUMAFLOW_ISBSVC_JETSTREAM_URL"
ENV_JETSTREAM_USER = "NUMAFLOW_ISBSVC_JETSTREAM_USER"
ENV_JETSTREAM_PASSWORD = "NUMAFLOW_ISBSVC_JETSTREAM_PASSWORD"
ENV_JETSTREAM_TLS = "NUMAFLOW_ISBSVC_JETSTREAM_TLS_ENABLED"
ENV_POD_IP = "NUMAFLUX_POD_IP"
ENV_PORT = "NUMAFLUX_DAEMON_PORT"
ENV_HEALTH_STEP = "NUMAFLUX_DAEMON_HEALTH_STEP"
ENV_SCRAPE_INTERVAL = "NUMAFLUX_DAEMON_SCRAPE_INTERVAL"
ENV_DISCOVERY_INTERVAL = "NUMAFLUX_DAEMON_DISCOVERY_INTERVAL"
ENV_LOOKBACK_INTERVAL = "NUMAFLUX_DAEMON_LOOKBACK_INTERVAL"
ENV_POD_DISCOVERY = "NUMAFLUX_DAEMON_POD_DISCOVERY"
ENV_STATIC_PODS = "NUMAFLUX_DAEMON_STATIC_PODS"

DEFAULT_HOST = "127.0.0.1"


class ConfigError(ValueError):
    """An environment variable is missing or malformed; the message names it."""


class Discovery(StrEnum):
    """How vertex pods are found: Kubernetes API, headless-service DNS probes, or a fixed list."""

    AUTO = "auto"
    KUBERNETES = "kubernetes"
    HEADLESS = "headless"
    STATIC = "static"


@dataclass(frozen=True, slots=True)
class ISBSettings:
    """How to reach the ISB service's nats-server."""

    url: str
    user: str | None = None
    password: str | None = None
    tls: bool = False


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    pipeline: Pipeline
    namespace: str
    isb: ISBSettings
    host: str = DEFAULT_HOST
    port: int = constants.DAEMON_SERVICE_PORT
    health_step: float = 10.0
    scrape_interval: float = 5.0
    discovery_interval: float = 30.0
    lookback_interval: float = 30.0
    discovery: Discovery = Discovery.AUTO
    static_pods: dict[str, dict[int, str]] = field(default_factory=dict)

    @property
    def pipeline_name(self) -> str:
        return self.pipeline.name


def decode_pipeline(value: str) -> Pipeline:
    """The Pipeline from NUMAFLOW_PIPELINE_OBJECT's base64 JSON; ConfigError names the variable."""
    try:
        return decode_object(value, Pipeline, env_name=ENV_PIPELINE_OBJECT, kind=constants.KIND_PIPELINE)
    except ObjectDecodeError as err:
        raise ConfigError(str(err)) from err


def encode_pipeline(pipeline: Pipeline) -> str:
    """Base64 JSON of `pipeline`: the NUMAFLOW_PIPELINE_OBJECT value the controller sets."""
    return encode_object(pipeline)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise ConfigError(f"{name}: expected seconds, got {raw!r}") from err
    if value <= 0:
        raise ConfigError(f"{name}: must be > 0, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def parse_static_pods(raw: str) -> dict[str, dict[int, str]]:
    """`{"vertex": {"0": "http://host:port/metrics"}}` → vertex → replica → metrics URL."""
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("expected an object")
        return {
            str(vertex): {int(replica): str(url) for replica, url in dict(pods).items()}
            for vertex, pods in doc.items()
        }
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{ENV_STATIC_PODS}: expected {{vertex: {{replica: url}}}} JSON: {err}") from err


def load_config(env: Mapping[str, str] | None = None) -> DaemonConfig:
    """Read and check the environment; raises ConfigError naming the offending variable."""
    env = os.environ if env is None else env
    raw = env.get(ENV_PIPELINE_OBJECT)
    if not raw:
        raise ConfigError(f"{ENV_PIPELINE_OBJECT}: not set (base64 JSON of the Pipeline object)")
    pipeline = decode_pipeline(raw)
    if not pipeline.name:
        raise ConfigError(f"{ENV_PIPELINE_OBJECT}: the Pipeline has no metadata.name")
    namespace = env.get(ENV_NAMESPACE) or pipeline.namespace
    if not namespace:
        raise ConfigError(f"{ENV_NAMESPACE}: not set and the Pipeline has no metadata.namespace")
    if not pipeline.namespace:
        pipeline = pipeline.model_copy(
            update={"metadata": pipeline.metadata.model_copy(update={"namespace": namespace})}
        )
    isb_type = env.get(ENV_ISBSVC_TYPE) or "jetstream"
    if isb_type != "jetstream":
        raise ConfigError(f"{ENV_ISBSVC_TYPE}: only 'jetstream' is supported, got {isb_type!r}")
    url = env.get(ENV_JETSTREAM_URL)
    if not url:
        raise ConfigError(f"{ENV_JETSTREAM_URL}: not set (the ISB service's nats:// URL)")
    port_raw = env.get(ENV_PORT) or str(constants.DAEMON_SERVICE_PORT)
    try:
        port = int(port_raw)
    except ValueError as err:
        raise ConfigError(f"{ENV_PORT}: not a port: {port_raw!r}") from err
    if not 0 < port < 65536:
        raise ConfigError(f"{ENV_PORT}: not a port: {port}")
    mode_raw = env.get(ENV_POD_DISCOVERY) or Discovery.AUTO.value
    try:
        mode = Discovery(mode_raw)
    except ValueError as err:
        choices = ", ".join(d.value for d in Discovery)
        raise ConfigError(f"{ENV_POD_DISCOVERY}: expected one of {choices}, got {mode_raw!r}") from err
    static = parse_static_pods(env[ENV_STATIC_PODS]) if env.get(ENV_STATIC_PODS) else {}
    if mode is Discovery.STATIC and not static:
        raise ConfigError(f"{ENV_STATIC_PODS}: required when {ENV_POD_DISCOVERY}=static")
    return DaemonConfig(
        pipeline=pipeline,
        namespace=namespace,
        isb=ISBSettings(
            url=url,
            user=env.get(ENV_JETSTREAM_USER) or None,
            password=env.get(ENV_JETSTREAM_PASSWORD) or None,
            tls=_bool(env, ENV_JETSTREAM_TLS),
        ),
        host=env.get(ENV_POD_IP) or DEFAULT_HOST,
        port=port,
        health_step=_seconds(env, ENV_HEALTH_STEP, 10.0),
        scrape_interval=_seconds(env, ENV_SCRAPE_INTERVAL, 5.0),
        discovery_interval=_seconds(env, ENV_DISCOVERY_INTERVAL, 30.0),
        lookback_interval=_seconds(env, ENV_LOOKBACK_INTERVAL, 30.0),
        discovery=mode,
        static_pods=static,
    )
