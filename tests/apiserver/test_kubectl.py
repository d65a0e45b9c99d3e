"""The real kubectl against the local API server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .harness import FIXTURES, VERTEX_CRD, ServerProcess, kubectl, kubectl_popen

pytestmark = pytest.mark.timeout(120)

VERTEX = """
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Vertex
metadata:
  name: {name}
  labels: {{numaflow.numaproj.io/pipeline-name: simple}}
spec:
  pipelineName: simple
  replicas: 2
"""


class LineReader:
    """Collects the output lines of a running process on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: str, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate in line for line in self.lines):
                return list(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"{predicate!r} never appeared; output so far: {self.lines}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def crd_server(server: ServerProcess) -> Iterator[ServerProcess]:
    kubectl(server, "apply", "-f", str(VERTEX_CRD))
    kubectl(
        server, "wait", "--for=condition=established", "crd/vertices.numaflow.numaproj.io", "--timeout=20s"
    )
    yield server


def test_api_resources_lists_built_in_kinds_and_the_crd(crd_server: ServerProcess) -> None:
    out = kubectl(crd_server, "api-resources")
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    for name in (
        "pods",
        "configmaps",
        "deployments",
        "statefulsets",
        "leases",
        "customresourcedefinitions",
        "vertices",
    ):
        assert name in rows
    assert "vtx" in rows["vertices"] and "numaflow.numaproj.io/v1alpha1" in rows["vertices"]
    assert kubectl(crd_server, "api-resources", "--categories=numaflow", "-o", "name").split() == [
        "vertices.numaflow.numaproj.io"
    ]


def test_get_shows_printer_columns_of_the_custom_resource(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "apply", "-f", "-", stdin=VERTEX.format(name="cols"))
    kubectl(
        crd_server,
        "patch",
        "vtx",
        "cols",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Running","replicas":1}}',
    )
    lines = kubectl(crd_server, "get", "vtx", "cols").splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "DESIRED", "CURRENT", "READY", "AGE"]
    assert lines[1].split()[:4] == ["cols", "Running", "2", "1"]
    wide = kubectl(crd_server, "get", "vtx", "cols", "-o", "wide").splitlines()
    assert "REASON" in wide[0].split()


def test_get_yaml_shows_server_fields_and_schema_defaults(crd_server: ServerProcess) -> None:
    manifest = VERTEX.format(name="yaml") + "  lifecycle: {}\n  junk: 1\n"
    out = kubectl(crd_server, "apply", "-f", "-", stdin=manifest, check=False)
    assert 'strict decoding error: unknown field "spec.junk"' in out
    kubectl(crd_server, "apply", "--validate=false", "-f", "-", stdin=manifest)
    obj = yaml.safe_load(kubectl(crd_server, "get", "vtx", "yaml", "-o", "yaml"))
    meta = obj["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1
    assert obj["spec"]["lifecycle"] == {"desiredPhase": "Running"}
    assert "junk" not in obj["spec"]


def test_apply_rejects_an_object_that_violates_the_schema(crd_server: ServerProcess) -> None:
    bad = VERTEX.format(name="bad").replace("replicas: 2", "replicas: two")
    out = kubectl(crd_server, "apply", "-f", "-", stdin=bad, check=False)
    assert 'spec.replicas: Invalid value: "string"' in out
    assert "NotFound" in kubectl(crd_server, "get", "vtx", "bad", check=False)


def test_patch_label_annotate_and_scale_change_the_object(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "apply", "-f", "-", stdin=VERTEX.format(name="edit"))
    kubectl(crd_server, "patch", "vtx", "edit", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
    kubectl(crd_server, "label", "vtx", "edit", "tier=backend")
    kubectl(crd_server, "annotate", "vtx", "edit", "owner=team-a")
    obj = json.loads(kubectl(crd_server, "get", "vtx", "edit", "-o", "json"))
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["labels"]["tier"] == "backend"
    assert obj["metadata"]["annotations"]["owner"] == "team-a"
    assert obj["metadata"]["generation"] == 2  # label and annotation did not bump it
    kubectl(crd_server, "scale", "vtx", "edit", "--replicas=5")
    obj = json.loads(kubectl(crd_server, "get", "vtx", "edit", "-o", "json"))
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == 3
    scale = json.loads(
        kubectl(
            crd_server,
            "get",
            "--raw",
            "/apis/numaflow.numaproj.io/v1alpha1/namespaces/default/vertices/edit/scale",
        )
    )
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5


def test_apply_again_updates_through_the_last_applied_configuration(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "apply", "-f", "-", stdin=VERTEX.format(name="reapply"))
    changed = VERTEX.format(name="reapply").replace("replicas: 2", "replicas: 4")
    assert "configured" in kubectl(crd_server, "apply", "-f", "-", stdin=changed)
    assert kubectl(crd_server, "get", "vtx", "reapply", "-o", "jsonpath={.spec.replicas}") == "4"


def test_delete_and_wait_for_delete(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "apply", "-f", "-", stdin=VERTEX.format(name="gone"))
    kubectl(
        crd_server, "patch", "vtx", "gone", "--type=merge", "-p", '{"metadata":{"finalizers":["test/hold"]}}'
    )
    kubectl(crd_server, "delete", "vtx", "gone", "--wait=false")
    waiter = kubectl_popen(crd_server, "wait", "--for=delete", "vtx/gone", "--timeout=30s")
    try:
        time.sleep(0.5)
        assert waiter.poll() is None  # the finalizer still holds the object
        kubectl(crd_server, "patch", "vtx", "gone", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        out, _ = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, out
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert "NotFound" in kubectl(crd_server, "get", "vtx", "gone", check=False)


def test_get_pods_watch_streams_changes(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "run", "w1", "--image=busybox", "--restart=Never")
    reader = LineReader(kubectl_popen(crd_server, "get", "pods", "-w"))
    try:
        reader.wait_for("w1")
        kubectl(crd_server, "run", "w2", "--image=busybox", "--restart=Never")
        reader.wait_for("w2")
        kubectl(
            crd_server,
            "patch",
            "pod",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status":{"phase":"Running"}}',
        )
        lines = reader.wait_for("Running")
        assert lines[0].split()[:3] == ["NAME", "READY", "STATUS"]
        assert any(line.split()[:3] == ["w1", "0/1", "Running"] for line in lines)
    finally:
        reader.stop()


def test_logs_follow_prints_lines_written_by_the_kubelet(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "run", "talker", "--image=busybox", "--restart=Never")
    log_file = Path(crd_server.data_dir) / "pods" / "default" / "talker" / "talker.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("first line\n")
    reader = LineReader(kubectl_popen(crd_server, "logs", "-f", "talker"))
    try:
        reader.wait_for("first line")
        with log_file.open("a") as handle:
            handle.write("second line\n")
        lines = reader.wait_for("second line")
        assert lines[:2] == ["first line", "second line"]
        terminated = {
            "name": "talker",
            "ready": False,
            "restartCount": 0,
            "image": "busybox",
            "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
        }
        status = json.dumps({"status": {"containerStatuses": [terminated]}})
        kubectl(crd_server, "patch", "pod", "talker", "--subresource=status", "--type=merge", "-p", status)
        assert reader.process.wait(timeout=20) == 0  # the stream ends with the container
    finally:
        reader.stop()
    with log_file.open("a") as handle:
        handle.write("third line\n")
    assert kubectl(crd_server, "logs", "talker", "--tail=1") == "third line\n"


def test_apply_of_a_deployment_merges_containers_by_name(crd_server: ServerProcess) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.25", env: [{name: A, value: "1"}, {name: B, value: "2"}]}
      - {name: side, image: "busybox:1"}
"""
    kubectl(crd_server, "apply", "-f", "-", stdin=manifest)
    kubectl(crd_server, "set", "env", "deployment/web", "-c", "web", "C=9")
    kubectl(crd_server, "apply", "-f", "-", stdin=manifest.replace('value: "2"', 'value: "3"'))
    dep = json.loads(kubectl(crd_server, "get", "deploy", "web", "-o", "json"))
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "side"]
    # C was added by another writer; the 3-way merge keeps it and updates B in place.
    assert containers[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "9"},
    ]
    assert dep["metadata"]["generation"] == 3
    kubectl(crd_server, "scale", "deploy", "web", "--replicas=4")
    assert kubectl(crd_server, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "4"


def test_explain_describes_custom_resource_fields(crd_server: ServerProcess) -> None:
    out = kubectl(crd_server, "explain", "vertex.spec")
    assert "KIND:       Vertex" in out
    assert "pipelineName" in out and "-required-" in out


def test_imperative_creates_sent_as_protobuf_work(crd_server: ServerProcess) -> None:
    kubectl(crd_server, "create", "namespace", "imperative")
    kubectl(crd_server, "-n", "imperative", "create", "configmap", "cfg", "--from-literal=a=b")
    kubectl(crd_server, "-n", "imperative", "create", "secret", "generic", "sec", "--from-literal=p=q")
    kubectl(crd_server, "-n", "imperative", "create", "deployment", "dep", "--image=nginx:1", "--replicas=2")
    assert kubectl(crd_server, "-n", "imperative", "get", "cm", "cfg", "-o", "jsonpath={.data.a}") == "b"
    assert (
        kubectl(crd_server, "-n", "imperative", "get", "secret", "sec", "-o", "jsonpath={.data.p}") == "cQ=="
    )
    dep = json.loads(kubectl(crd_server, "-n", "imperative", "get", "deploy", "dep", "-o", "json"))
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    kubectl(crd_server, "delete", "namespace", "imperative")
    assert "NotFound" in kubectl(crd_server, "get", "namespace", "imperative", check=False)


def test_applying_a_kind_without_its_crd_asks_to_install_crds_first(crd_server: ServerProcess) -> None:
    manifest = "apiVersion: numaflow.numaproj.io/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec: {}\n"
    out = kubectl(crd_server, "apply", "-f", "-", stdin=manifest, check=False)
    assert 'no matches for kind "Pipeline" in version "numaflow.numaproj.io/v1alpha1"' in out
    assert "ensure CRDs are installed first" in out


def test_discovery_is_served_aggregated_and_legacy(crd_server: ServerProcess) -> None:
    aggregated = json.loads(kubectl(crd_server, "get", "--raw", "/apis"))
    assert aggregated["kind"] == "APIGroupList"  # --raw asks for plain JSON
    legacy = json.loads(kubectl(crd_server, "get", "--raw", "/apis/numaflow.numaproj.io/v1alpha1"))
    names = {r["name"]: r for r in legacy["resources"]}
    assert names["vertices/scale"]["kind"] == "Scale" and names["vertices/scale"]["group"] == "autoscaling"
    assert names["vertices"]["shortNames"] == ["vtx"] and names["vertices"]["categories"] == ["numaflow"]


def test_upstream_example_manifests_apply_and_list_by_category(
    crd_server: ServerProcess, shared_examples_dir: Path
) -> None:
    kubectl(crd_server, "apply", "-f", str(FIXTURES / "numaflow-crds.yaml"))
    for crd in ("pipelines", "interstepbufferservices"):
        kubectl(
            crd_server,
            "wait",
            "--for=condition=established",
            f"crd/{crd}.numaflow.numaproj.io",
            "--timeout=20s",
        )
    kubectl(crd_server, "apply", "-f", str(shared_examples_dir / "0-isbsvc-jetstream.yaml"))
    out = kubectl(crd_server, "apply", "-f", str(shared_examples_dir / "1-simple-pipeline.yaml"))
    assert "pipeline.numaflow.numaproj.io/simple-pipeline created" in out
    listed = kubectl(crd_server, "get", "numaflow", "-o", "name").split()
    assert "pipeline.numaflow.numaproj.io/simple-pipeline" in listed
    assert "interstepbufferservice.numaflow.numaproj.io/default" in listed
    header = kubectl(crd_server, "get", "pl").splitlines()[0].split()
    assert header == ["NAME", "PHASE", "VERTICES", "AGE"]


def test_unknown_fields_of_built_in_kinds_are_refused_or_dropped(crd_server: ServerProcess) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndata: {a: b}\ndatta: {c: d}\n"
    out = kubectl(crd_server, "apply", "-f", "-", stdin=manifest, check=False)
    assert 'cannot be handled as a ConfigMap: strict decoding error: unknown field "datta"' in out
    kubectl(crd_server, "apply", "--validate=false", "-f", "-", stdin=manifest)
    stored = json.loads(kubectl(crd_server, "get", "cm", "typo", "-o", "json"))
    assert stored["data"] == {"a": "b"} and "datta" not in stored


def test_explain_describes_built_in_fields(crd_server: ServerProcess) -> None:
    out = kubectl(crd_server, "explain", "pod.spec.containers.image")
    assert "FIELD: image <string>" in out
    assert "Container image name" in out
