"""NumaFlow constants: API identity, label/annotation keys, defaults, ports, phases."""

from __future__ import annotations

from enum import StrEnum

API_GROUP = "numaflow.numaproj.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

KIND_PIPELINE = "Pipeline"
KIND_VERTEX = "Vertex"
KIND_ISB_SERVICE = "InterStepBufferService"
KIND_MONO_VERTEX = "MonoVertex"

# Labels and annotations.
KEY_PART_OF = "app.kubernetes.io/part-of"
KEY_MANAGED_BY = "app.kubernetes.io/managed-by"
KEY_COMPONENT = "app.kubernetes.io/component"
KEY_APP_NAME = "app.kubernetes.io/name"
KEY_PIPELINE_NAME = "numaflow.numaproj.io/pipeline-name"
KEY_VERTEX_NAME = "numaflow.numaproj.io/vertex-name"
KEY_MONO_VERTEX_NAME = "numaflow.numaproj.io/mono-vertex-name"
KEY_ISB_SERVICE_NAME = "numaflow.numaproj.io/isbsvc-name"
KEY_ISB_SERVICE_TYPE = "numaflow.numaproj.io/isbsvc-type"
KEY_SIDE_INPUT_NAME = "numaflow.numaproj.io/side-input-name"
KEY_HASH = "numaflow.numaproj.io/hash"
KEY_REPLICA = "numaflow.numaproj.io/replica"
KEY_INSTANCE = "numaflow.numaproj.io/instance"
KEY_PAUSE_TIMESTAMP = "numaflow.numaproj.io/pause-timestamp"
KEY_RESUME_STRATEGY = "numaflow.numaproj.io/resume-strategy"

PART_OF_VALUE = "numaflow"
RESUME_STRATEGY_SLOW = "slow"
RESUME_STRATEGY_FAST = "fast"

# Components (app.kubernetes.io/component) and managers (app.kubernetes.io/managed-by).
COMPONENT_VERTEX = "vertex"
COMPONENT_MONO_VERTEX = "mono-vertex"
COMPONENT_DAEMON = "daemon"
COMPONENT_JOB = "job"
COMPONENT_SIDE_INPUTS_MANAGER = "side-inputs-manager"
COMPONENT_ISB_SERVICE = "isbsvc"
MANAGED_BY_PIPELINE_CONTROLLER = "pipeline-controller"
MANAGED_BY_VERTEX_CONTROLLER = "vertex-controller"
MANAGED_BY_MONO_VERTEX_CONTROLLER = "mono-vertex-controller"
MANAGED_BY_ISB_SERVICE_CONTROLLER = "isbsvc-controller"

# Defaults (applied only by getters on the models).
DEFAULT_ISB_SERVICE_NAME = "default"
DEFAULT_REQUEUE_AFTER_SECONDS = 10
DEFAULT_MAX_REPLICAS = 50
DEFAULT_MIN_REPLICAS = 0
DEFAULT_LOOKBACK_SECONDS = 120
MAX_LOOKBACK_SECONDS = 600
DEFAULT_COOLDOWN_SECONDS = 90
DEFAULT_ZERO_REPLICA_SLEEP_SECONDS = 120
DEFAULT_TARGET_PROCESSING_SECONDS = 20
DEFAULT_TARGET_BUFFER_AVAILABILITY = 50
DEFAULT_REPLICAS_PER_SCALE = 2
DEFAULT_CRON_TIMEZONE = "UTC"
DEFAULT_GRACE_PERIOD_SECONDS = 30
DEFAULT_READ_BATCH_SIZE = 500
DEFAULT_BUFFER_LENGTH = 30000
DEFAULT_BUFFER_USAGE_LIMIT = 0.8
DEFAULT_READ_TIMEOUT = "1s"
DEFAULT_PARTITIONS = 1
DEFAULT_MAX_UNAVAILABLE = "25%"
DEFAULT_UPDATE_STRATEGY_TYPE = "RollingUpdate"
DEFAULT_JETSTREAM_REPLICAS = 3
DEFAULT_PERSISTENCE_ACCESS_MODE = "ReadWriteOnce"
DEFAULT_PERSISTENCE_VOLUME_SIZE = "20Gi"
DEFAULT_WATERMARK_MAX_DELAY = "0s"
DEFAULT_IDLE_STEP_INTERVAL = "0s"
DEFAULT_GENERATOR_RPU = 5
DEFAULT_GENERATOR_DURATION = "1s"
DEFAULT_GENERATOR_MSG_SIZE = 8
DEFAULT_GENERATOR_JITTER = "0s"
DEFAULT_RETRY_INTERVAL = "1ms"
DEFAULT_RETRY_STEPS = 65535  # the Rust core's u16::MAX attempts
DEFAULT_RETRY_FACTOR = 1.0
DEFAULT_RETRY_JITTER = 0.0
DEFAULT_RETRY_ON_FAILURE = "retry"
DEFAULT_RATE_LIMIT_MIN = 1
DEFAULT_RATE_LIMIT_RAMP_UP = "1s"
DEFAULT_RATE_LIMIT_TTL = "180s"
DEFAULT_EDGE_OPERATOR = "or"
DEFAULT_ON_FULL = "retryUntilSuccess"

# Ports.
VERTEX_METRICS_PORT = 2469
VERTEX_METRICS_PORT_NAME = "metrics"
VERTEX_RUNTIME_PORT = 2470
VERTEX_HTTPS_SOURCE_PORT = 8443
VERTEX_HTTP_SOURCE_PORT = 8090
DAEMON_SERVICE_PORT = 4327
MONO_VERTEX_DAEMON_SERVICE_PORT = 4327
JETSTREAM_CLIENT_PORT = 4222
JETSTREAM_CLUSTER_PORT = 6222
JETSTREAM_MONITOR_PORT = 8222
JETSTREAM_METRICS_PORT = 7777


class VertexType(StrEnum):
    """What a vertex does (``GetVertexType``)."""

    SOURCE = "Source"
    SINK = "Sink"
    MAP_UDF = "MapUDF"
    REDUCE_UDF = "ReduceUDF"


class PipelinePhase(StrEnum):
    """``status.phase`` of a Pipeline; ``code`` is the ``pipeline_current_phase`` metric value."""

    UNKNOWN = ""
    RUNNING = "Running"
    PAUSED = "Paused"
    FAILED = "Failed"
    PAUSING = "Pausing"
    DELETING = "Deleting"

    @property
    def code(self) -> int:
        return _PIPELINE_CODES[self]


_PIPELINE_CODES = {
    PipelinePhase.UNKNOWN: 0,
    PipelinePhase.RUNNING: 1,
    PipelinePhase.PAUSED: 2,
    PipelinePhase.FAILED: 3,
    PipelinePhase.PAUSING: 4,
    PipelinePhase.DELETING: 5,
}


class VertexPhase(StrEnum):
    """``status.phase`` of a Vertex (and the values of ``spec.lifecycle.desiredPhase``)."""

    UNKNOWN = ""
    RUNNING = "Running"
    FAILED = "Failed"
    PAUSED = "Paused"


class MonoVertexPhase(StrEnum):
    """``status.phase`` of a MonoVertex; ``code`` is the metric value."""

    UNKNOWN = ""
    RUNNING = "Running"
    FAILED = "Failed"
    PAUSED = "Paused"

    @property
    def code(self) -> int:
        return _MONO_VERTEX_CODES[self]


_MONO_VERTEX_CODES = {
    MonoVertexPhase.UNKNOWN: 0,
    MonoVertexPhase.RUNNING: 1,
    MonoVertexPhase.FAILED: 2,
    MonoVertexPhase.PAUSED: 3,
}


class ISBServicePhase(StrEnum):
    """``status.phase`` of an InterStepBufferService."""

    UNKNOWN = ""
    PENDING = "Pending"
    RUNNING = "Running"
    FAILED = "Failed"
    DELETING = "Deleting"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# Condition types.
PIPELINE_CONDITION_CONFIGURED = "Configured"
PIPELINE_CONDITION_DEPLOYED = "Deployed"
PIPELINE_CONDITION_DAEMON_SERVICE_HEALTHY = "DaemonServiceHealthy"
PIPELINE_CONDITION_SIDE_INPUTS_MANAGERS_HEALTHY = "SideInputsManagersHealthy"
PIPELINE_CONDITION_VERTICES_HEALTHY = "VerticesHealthy"
VERTEX_CONDITION_DEPLOYED = "Deployed"
VERTEX_CONDITION_PODS_HEALTHY = "PodsHealthy"
MONO_VERTEX_CONDITION_DEPLOYED = "Deployed"
MONO_VERTEX_CONDITION_DAEMON_HEALTHY = "DaemonHealthy"
MONO_VERTEX_CONDITION_PODS_HEALTHY = "PodsHealthy"
ISB_SERVICE_CONDITION_CONFIGURED = "Configured"
ISB_SERVICE_CONDITION_DEPLOYED = "Deployed"
ISB_SERVICE_CONDITION_CHILDREN_HEALTHY = "ChildrenResourcesHealthy"
