"""Pod discovery through a real (local) Kubernetes API server and its kubeconfig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# tests/ is on sys.path (rootdir-relative imports): reuse the API server tests' process harness.
from apiserver.harness import ServerProcess, kubectl
from numaflux.daemon.pods import KubernetesPodProvider

from .conftest import SESSION_LOOP


def pod_manifest(name: str, pipeline: str, vertex: str, replica: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "numaflow.numaproj.io/pipeline-name": pipeline,
                "numaflow.numaproj.io/vertex-name": vertex,
                "app.kubernetes.io/component": "vertex",
            },
            "annotations": {"numaflow.numaproj.io/replica": str(replica)},
        },
        "spec": {"containers": [{"name": "numa", "image": "numaflux"}]},
    }


@SESSION_LOOP
@pytest.mark.timeout(90)
async def test_kubernetes_provider_finds_running_pods_by_replica_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ServerProcess(tmp_path / "api").start()
    provider = None
    try:
        pods = [("pl-cat-0-aaaaa", "cat", 0), ("pl-cat-1-bbbbb", "cat", 1), ("pl-out-0-ccccc", "out", 0)]
        for name, vertex, replica in pods:
            kubectl(server, "apply", "-f", "-", stdin=json.dumps(pod_manifest(name, "pl", vertex, replica)))
        for i, (name, _, _) in enumerate(pods[:2]):
            status = {"status": {"phase": "Running", "podIP": f"127.0.3.{i + 1}"}}
            patch = ["patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)]
            kubectl(server, *patch)
        other = pod_manifest("other-cat-0-ddddd", "other", "cat", 0)
        kubectl(server, "apply", "-f", "-", stdin=json.dumps(other))
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
        provider = await KubernetesPodProvider.from_environment("default", "pl")
        found = await provider.discover({"in": 1, "cat": 5, "out": 1})
        assert found == {
            "in": {},
            "cat": {0: "http://127.0.3.1:2469/metrics", 1: "http://127.0.3.2:2469/metrics"},
            "out": {},  # not Running, no IP yet
        }
    finally:
        if provider is not None:
            await provider.close()
        server.stop()
