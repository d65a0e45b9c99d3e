"""`numaflux crds | kubectl apply -f -` against the local API server; then the kinds work with kubectl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# tests/ is on sys.path (rootdir-relative imports): reuse the API server tests' process harness.
from apiserver.harness import ServerProcess, kubectl

NUMAFLUX = Path(sys.executable).parent / "numaflux"

VERTEX = """
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Vertex
metadata:
  name: simple-pipeline-cat
spec:
  pipelineName: simple-pipeline
  name: cat
  udf:
    container:
      image: quay.io/numaio/numaflow-go/map-cat:stable
"""


@pytest.mark.timeout(120)
def test_applied_crds_serve_pipelines_with_printer_columns_defaults_scale_and_schema_checks(
    tmp_path: Path, shared_examples_dir: Path
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        crds = subprocess.run([str(NUMAFLUX), "crds"], capture_output=True, text=True, check=True, timeout=60)
        applied = kubectl(server, "apply", "-f", "-", stdin=crds.stdout)
        assert applied.count("customresourcedefinition.apiextensions.k8s.io/") == 4
        kubectl(server, "wait", "--for=condition=established", "crd", "--all", "--timeout=30s")

        for name in ("1-simple-pipeline", "21-simple-mono-vertex", "0-isbsvc-jetstream"):
            kubectl(server, "apply", "-f", str(shared_examples_dir / f"{name}.yaml"))
        kubectl(
            server,
            "patch",
            "pl",
            "simple-pipeline",
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status": {"phase": "Running", "vertexCount": 3, "sourceCount": 1}}',
        )
        table = kubectl(server, "get", "pl").splitlines()
        assert table[0].split() == ["NAME", "PHASE", "VERTICES", "AGE", "MESSAGE"]
        assert table[1].split()[:3] == ["simple-pipeline", "Running", "3"]
        wide = kubectl(server, "get", "pl", "-o", "wide").splitlines()[0]
        assert "REDUCE UDFS" in wide and "SOURCES" in wide
        assert "simple-mono-vertex" in kubectl(server, "get", "mvtx")
        assert "default" in kubectl(server, "get", "isbsvc")
        assert "pipeline.numaflow.numaproj.io/simple-pipeline" in kubectl(server, "get", "numaflow")

        # The one schema default, and the scale subresource on .spec.replicas.
        kubectl(server, "apply", "-f", "-", stdin=VERTEX)
        replicas = "jsonpath={.spec.replicas}"
        assert kubectl(server, "get", "vtx", "simple-pipeline-cat", "-o", replicas) == "1"
        kubectl(server, "scale", "vtx", "simple-pipeline-cat", "--replicas=3")
        assert kubectl(server, "get", "vtx", "simple-pipeline-cat", "-o", replicas) == "3"

        # A wrong type is refused by the server with the field named.
        bad = (shared_examples_dir / "5-auto-scaling.yaml").read_text().replace("min: 2", 'min: "two"')
        refused = kubectl(server, "apply", "-f", "-", stdin=bad, check=False)
        assert "spec.vertices[1].scale.min" in refused
        assert "autoscaling-pipeline" not in kubectl(server, "get", "pl")

        # Everyday verbs on a generated kind: merge patch, label, annotate, delete and wait for it.
        kubectl(
            server,
            "patch",
            "pl",
            "simple-pipeline",
            "--type",
            "merge",
            "-p",
            '{"spec":{"lifecycle":{"desiredPhase":"Paused"}}}',
        )
        phase = "jsonpath={.spec.lifecycle.desiredPhase}"
        assert kubectl(server, "get", "pl", "simple-pipeline", "-o", phase) == "Paused"
        kubectl(server, "label", "pl", "simple-pipeline", "team=data")
        kubectl(server, "annotate", "pl", "simple-pipeline", "numaflow.numaproj.io/resume-strategy=slow")
        labelled = kubectl(server, "get", "pl", "-l", "team=data", "-o", "name").split()
        assert labelled == ["pipeline.numaflow.numaproj.io/simple-pipeline"]
        strategy = "jsonpath={.metadata.annotations.numaflow\\.numaproj\\.io/resume-strategy}"
        assert kubectl(server, "get", "pl", "simple-pipeline", "-o", strategy) == "slow"
        kubectl(server, "delete", "pl", "simple-pipeline", "--wait=false")
        kubectl(server, "wait", "--for=delete", "pl/simple-pipeline", "--timeout=30s")
        assert "simple-pipeline" not in kubectl(server, "get", "pl")
    finally:
        server.stop()
