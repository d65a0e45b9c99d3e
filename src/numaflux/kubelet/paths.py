"""Where the local kubelet keeps each pod's files under the data directory.

Layout (DATA_DIR is the local cluster's directory):

    DATA_DIR/images.yaml                         user image map (image -> argv)
    DATA_DIR/kubelet/pod-ips.json                loopback address per pod uid
    DATA_DIR/kubelet/mount-points.json           mount points created on the host, with their pods
    DATA_DIR/pods/{namespace}/{pod}/pod.json     uid and container pids of the pod (for a restarted kubelet)
    DATA_DIR/pods/{namespace}/{pod}/{container}.log      current log of a container
    DATA_DIR/pods/{namespace}/{pod}/{container}.log.1    log of its previous instance (`logs --previous`)
    DATA_DIR/pods/{namespace}/{pod}/volumes/{volume}     emptyDir, configMap and secret volumes
    DATA_DIR/pods/{namespace}/{pod}/run-numaflow         /var/run/numaflow when the pod mounts nothing there
"""

from __future__ import annotations

from pathlib import Path

VAR_RUN_NUMAFLOW = "/var/run/numaflow"


def pods_dir(data_dir: Path) -> Path:
    """Root of all pods' directories."""
    return Path(data_dir) / "pods"


def pod_dir(data_dir: Path, namespace: str, pod: str) -> Path:
    """Directory of one pod."""
    return pods_dir(data_dir) / namespace / pod


def container_log_path(data_dir: Path, namespace: str, pod: str, container: str) -> Path:
    """Current log file (stdout and stderr) of a container; what `pods/log` serves."""
    return pod_dir(data_dir, namespace, pod) / f"{container}.log"


def previous_container_log_path(data_dir: Path, namespace: str, pod: str, container: str) -> Path:
    """Log of the container's previous instance; what `pods/log?previous=true` serves."""
    return pod_dir(data_dir, namespace, pod) / f"{container}.log.1"


def volume_dir(data_dir: Path, namespace: str, pod: str, volume: str) -> Path:
    """Host directory backing a pod volume."""
    return pod_dir(data_dir, namespace, pod) / "volumes" / volume


def private_run_dir(data_dir: Path, namespace: str, pod: str) -> Path:
    """Host directory mounted at /var/run/numaflow for pods that mount no volume there."""
    return pod_dir(data_dir, namespace, pod) / "run-numaflow"


def pod_record_path(data_dir: Path, namespace: str, pod: str) -> Path:
    """Uid and process ids of the pod, read by a restarted kubelet."""
    return pod_dir(data_dir, namespace, pod) / "pod.json"


def ip_allocations_path(data_dir: Path) -> Path:
    """Persistent pod-uid -> loopback-address table."""
    return Path(data_dir) / "kubelet" / "pod-ips.json"


def mount_points_path(data_dir: Path) -> Path:
    """Mount points the kubelet created on the host, and the pods using them."""
    return Path(data_dir) / "kubelet" / "mount-points.json"


def image_map_path(data_dir: Path) -> Path:
    """User image map: YAML mapping of image -> argv list."""
    return Path(data_dir) / "images.yaml"
