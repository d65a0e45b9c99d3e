"""NumaFlow resource model: Pipeline, Vertex, InterStepBufferService, MonoVertex.

Models keep exactly what the user wrote; NumaFlow's defaults are applied only by ``get_*`` getters.
"""

from numaflux.api import constants, naming
from numaflux.api._base import NumaModel
from numaflux.api.container import AbstractPodTemplate, Container, ContainerTemplate
from numaflux.api.duration import Duration, parse_duration, parse_duration_seconds
from numaflux.api.edge import CombinedEdge, Edge, ForwardConditions, TagConditions
from numaflux.api.errors import FieldError, field_errors_from_pydantic, render_path
from numaflux.api.isbsvc import (
    InterStepBufferService,
    InterStepBufferServiceSpec,
    InterStepBufferServiceStatus,
    JetStreamBufferService,
)
from numaflux.api.lifecycle import Lifecycle, VertexLifecycle, normalize_desired_phase
from numaflux.api.limits import MonoVertexLimits, PipelineLimits, RateLimit, VertexLimits, merge_limits
from numaflux.api.loader import KINDS, NumaObject, UnknownKindError, dump, load_object, model_for
from numaflux.api.meta import ObjectMeta, PodMetadata
from numaflux.api.monovertex import MonoVertex, MonoVertexSpec, MonoVertexStatus
from numaflux.api.pipeline import Pipeline, PipelineSpec, PipelineStatus, VertexCounts
from numaflux.api.scale import CronSchedule, CronScheduling, Scale
from numaflux.api.side_inputs import SideInput, SideInputTrigger
from numaflux.api.sink import AbstractSink, Backoff, RetryStrategy, Sink
from numaflux.api.source import GeneratorSource, HTTPSource, Source
from numaflux.api.status import Condition, Status
from numaflux.api.templates import Templates
from numaflux.api.udf import UDF, GroupBy, PBQStorage, PersistenceStrategy, Window
from numaflux.api.update_strategy import UpdateStrategy, scaled_value_from_int_or_percent
from numaflux.api.vertex import AbstractVertex, Vertex, VertexSpec, VertexStatus
from numaflux.api.watermark import IdleSource, Watermark

__all__ = [
    "KINDS",
    "UDF",
    "AbstractPodTemplate",
    "AbstractSink",
    "AbstractVertex",
    "Backoff",
    "CombinedEdge",
    "Condition",
    "Container",
    "ContainerTemplate",
    "CronSchedule",
    "CronScheduling",
    "Duration",
    "Edge",
    "FieldError",
    "ForwardConditions",
    "GeneratorSource",
    "GroupBy",
    "HTTPSource",
    "IdleSource",
    "InterStepBufferService",
    "InterStepBufferServiceSpec",
    "InterStepBufferServiceStatus",
    "JetStreamBufferService",
    "Lifecycle",
    "MonoVertex",
    "MonoVertexLimits",
    "MonoVertexSpec",
    "MonoVertexStatus",
    "NumaModel",
    "NumaObject",
    "ObjectMeta",
    "PBQStorage",
    "PersistenceStrategy",
    "Pipeline",
    "PipelineLimits",
    "PipelineSpec",
    "PipelineStatus",
    "PodMetadata",
    "RateLimit",
    "RetryStrategy",
    "Scale",
    "SideInput",
    "SideInputTrigger",
    "Sink",
    "Source",
    "Status",
    "TagConditions",
    "Templates",
    "UnknownKindError",
    "UpdateStrategy",
    "Vertex",
    "VertexCounts",
    "VertexLifecycle",
    "VertexLimits",
    "VertexSpec",
    "VertexStatus",
    "Watermark",
    "Window",
    "constants",
    "dump",
    "field_errors_from_pydantic",
    "load_object",
    "merge_limits",
    "model_for",
    "naming",
    "normalize_desired_phase",
    "parse_duration",
    "parse_duration_seconds",
    "render_path",
    "scaled_value_from_int_or_percent",
]
