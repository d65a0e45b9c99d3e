"""Names NumaFlow derives for child objects, buffers and buckets."""

from __future__ import annotations


def vertex_cr_name(pipeline: str, vertex: str) -> str:
    """Name of the Vertex object generated for ``vertex`` of ``pipeline``."""
    return f"{pipeline}-{vertex}"


def buffer_name(namespace: str, pipeline: str, vertex: str, index: int) -> str:
    """Inter-step buffer (JetStream stream) owned by the reading ``vertex``, partition ``index``."""
    return f"{namespace}-{pipeline}-{vertex}-{index}"


def edge_bucket_name(namespace: str, pipeline: str, from_vertex: str, to_vertex: str) -> str:
    """Watermark bucket of an edge."""
    return f"{namespace}-{pipeline}-{from_vertex}-{to_vertex}"


def source_bucket_name(namespace: str, pipeline: str, vertex: str) -> str:
    return f"{namespace}-{pipeline}-{vertex}_SOURCE"


def sink_bucket_name(namespace: str, pipeline: str, vertex: str) -> str:
    return f"{namespace}-{pipeline}-{vertex}_SINK"


def side_inputs_store_name(namespace: str, pipeline: str) -> str:
    """Store name for side inputs; the KV bucket is ``{store}_SIDE_INPUTS``."""
    return f"{namespace}-{pipeline}"


def side_inputs_bucket_name(namespace: str, pipeline: str) -> str:
    return f"{side_inputs_store_name(namespace, pipeline)}_SIDE_INPUTS"


def headless_service_name(vertex_cr: str) -> str:
    return f"{vertex_cr}-headless"


def daemon_deployment_name(pipeline: str) -> str:
    return f"{pipeline}-daemon"


def daemon_service_name(pipeline: str) -> str:
    return f"{pipeline}-daemon-svc"


def side_inputs_manager_deployment_name(pipeline: str, side_input: str) -> str:
    return f"{pipeline}-si-{side_input}"


def mono_vertex_headless_service_name(mono_vertex: str) -> str:
    return f"{mono_vertex}-mv-headless"


def mono_vertex_daemon_deployment_name(mono_vertex: str) -> str:
    return f"{mono_vertex}-mv-daemon"


def mono_vertex_daemon_service_name(mono_vertex: str) -> str:
    return f"{mono_vertex}-mv-daemon-svc"


def mono_vertex_pod_hostname(mono_vertex: str, replica: int) -> str:
    return f"{mono_vertex}-mv-{replica}"


def vertex_pod_hostname(vertex_cr: str, replica: int) -> str:
    return f"{vertex_cr}-{replica}"


def isb_statefulset_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js"


def isb_headless_service_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js-svc"


def isb_config_map_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js-config"


def isb_server_secret_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js-server"


def isb_client_auth_secret_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js-client-auth"


def isb_pvc_template_name(isb_service: str) -> str:
    return f"isbsvc-{isb_service}-js-vol"


def isb_client_url(isb_service: str, namespace: str) -> str:
    return f"nats://{isb_headless_service_name(isb_service)}.{namespace}.svc:4222"
