"""`numaflux apply|get|describe|delete|logs|scale` on the local cluster, next to the real kubectl: both show
NumaFlow's printer columns, and every Vertex carries its lifecycle field and hash annotation."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from numaflux.api import constants as c
from numaflux.api.crds.definitions import KIND_INFOS
from numaflux.cli.main import app
from numaflux.controller.kube import JSON, PIPELINE, VERTEX, KubeClient

from .cluster import Cluster, Process
from .helpers import events_about, get_or_none, is_ready, pods_of, until

pytestmark = pytest.mark.timeout(240)

BIN = Path(sys.executable).parent
PIPELINE_YAML = """\
apiVersion: numaflow.numaproj.io/v1alpha1
kind: InterStepBufferService
metadata:
  name: default
spec:
  jetstream:
    version: latest
---
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Pipeline
metadata:
  name: pl
spec:
  vertices:
    - name: in
      source:
        generator: {rpu: 2, duration: 1s}
    - name: out
      scale: {min: 1, max: 2}
      sink:
        log: {}
  edges:
    - from: in
      to: out
"""
# POD columns `kubectl get pods` prints (priority 0).
POD_HEADER = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def numaflux(cluster: Cluster, *args: str) -> Result:
    """The real CLI in this process (in a thread: it runs its own event loop), on the test cluster."""
    runner = CliRunner()
    done = await asyncio.to_thread(runner.invoke, app, [*args, "--dir", str(cluster.data_dir)])
    return Result(done.exit_code, done.stdout, done.stderr)


def ok(result: Result) -> str:
    assert result.code == 0, result.stdout + result.stderr
    return result.stdout


def subprocess_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process (with its own environment)."""
    return subprocess.run(
        [str(BIN / "numaflux"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def follow_logs(cluster: Cluster, namespace: str, pod: str) -> list[str]:
    """`numaflux logs -f`: the whole log, then new lines as they come; still following at the end."""
    argv = [
        str(BIN / "numaflux"),
        "logs",
        pod,
        "-c",
        "numa",
        "-f",
        "-n",
        namespace,
        "--dir",
        str(cluster.data_dir),
    ]
    follow = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follow.stdout is not None
        seen: list[str] = []
        while not any("Payload - " in line for line in seen[-50:]) and len(seen) < 2000:
            seen.append(follow.stdout.readline())
        time.sleep(0.5)
        assert follow.poll() is None, follow.stderr.read() if follow.stderr else ""
        return seen
    finally:
        follow.terminate()
        follow.wait(10)


def kubectl(cluster: Cluster, namespace: str, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def crd_header(kind: str) -> list[str]:
    """The CRD's additionalPrinterColumns kubectl shows by default, as kubectl heads them."""
    info = next(i for i in KIND_INFOS if i.kind == kind)
    return ["NAME", *(col["name"].upper() for col in info.columns if not col.get("priority"))]


def headers(text: str) -> list[list[str]]:
    """The header line of each block of `get` output, split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", block.splitlines()[0].strip()) for block in text.strip().split("\n\n")]


def rows(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.strip().splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        out[cells[0]] = cells
    return out


async def vertex(kube: KubeClient, namespace: str, name: str) -> JSON:
    return await kube.get(VERTEX, namespace, name)


async def test_apply_get_describe_scale_logs_delete_and_kubectl_show_numaflow_columns(
    cluster: Cluster, manager: Process, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    # An invalid file: exit 1 naming the field, nothing created.
    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE_YAML.replace("scale: {min: 1, max: 2}", "scale: {mni: 1}"))
    failed = await numaflux(cluster, "apply", "-f", str(bad), "-n", namespace)
    assert failed.code == 1
    assert "Pipeline/pl" in failed.stderr and "spec.vertices[1].scale.mni" in failed.stderr
    assert await get_or_none(kube, PIPELINE, namespace, "pl") is None

    good = tmp_path / "pl.yaml"
    good.write_text(PIPELINE_YAML)
    out = ok(await numaflux(cluster, "apply", "-f", str(good), "-n", namespace))
    assert out.splitlines() == ["interstepbufferservice/default created", "pipeline/pl created"]

    async def running() -> bool:
        pl = await kube.get(PIPELINE, namespace, "pl")
        pods = await pods_of(kube, namespace, "pl-out-")
        return (pl.get("status") or {}).get("phase") == "Running" and len(pods) == 1 and is_ready(pods[0])

    await until(running, "pipeline Running with a ready sink pod", 150)
    # Re-applying: the ISB service is unchanged, the pipeline's new spec is written.
    good.write_text(PIPELINE_YAML.replace("rpu: 2", "rpu: 3"))
    out = ok(await numaflux(cluster, "apply", "-f", str(good), "-n", namespace))
    assert out.splitlines() == ["interstepbufferservice/default unchanged", "pipeline/pl configured"]
    pl = await kube.get(PIPELINE, namespace, "pl")
    assert pl["spec"]["vertices"][0]["source"]["generator"]["rpu"] == 3

    # Every Vertex carries the lifecycle field and the hash annotation.
    for name in ("pl-in", "pl-out"):
        v = await vertex(kube, namespace, name)
        assert v["spec"]["lifecycle"]["desiredPhase"] == "Running"
        assert len(v["metadata"]["annotations"][c.KEY_HASH]) == 64

    # kubectl and numaflux get show the same NumaFlow columns, block by block.
    expected = [
        crd_header("Pipeline"),
        crd_header("Vertex"),
        POD_HEADER,
        crd_header("InterStepBufferService"),
    ]
    by_kubectl = kubectl(cluster, namespace, "get", "pl,vtx,pods,isbsvc")
    print(by_kubectl)
    assert headers(by_kubectl) == expected
    by_numaflux = ok(await numaflux(cluster, "get", "pl,vtx,pods,isbsvc", "-n", namespace))
    print(by_numaflux)
    assert headers(by_numaflux) == expected
    pl_rows = rows(ok(await numaflux(cluster, "get", "pipelines", "-n", namespace)))
    # the phase may flip while the daemon rolls out; the column shows the object's own field
    assert pl_rows["pl"][1] in ("Running", "Failed") and pl_rows["pl"][2] == "2"
    vtx_rows = rows(ok(await numaflux(cluster, "get", "vtx", "-n", namespace)))
    assert sorted(vtx_rows) == ["pl-in", "pl-out"]
    assert vtx_rows["pl-out"][1:5] == ["Running", "1", "1", "1"]
    isb_rows = rows(ok(await numaflux(cluster, "get", "isbsvc", "default", "-n", namespace)))
    assert isb_rows["default"][1:3] == ["jetstream", "Running"]
    assert "pl-out-0-" in ok(await numaflux(cluster, "get", "pods", "-n", namespace))
    missing = await numaflux(cluster, "get", "pl", "nope", "-n", namespace)
    assert missing.code == 1
    assert f"Pipeline {namespace}/nope not found" in missing.stderr
    unknown = await numaflux(cluster, "get", "widgets", "-n", namespace)
    assert unknown.code == 1 and "unknown kind 'widgets'" in unknown.stderr

    # $KUBECONFIG when no local cluster directory is given or found.
    env = {**os.environ, "NUMAFLUX_DIR": str(tmp_path / "none"), "KUBECONFIG": str(cluster.kubeconfig)}
    by_env = await asyncio.to_thread(subprocess_cli, env, "get", "isbsvc", "-n", namespace)
    assert by_env.returncode == 0 and "default" in by_env.stdout, by_env.stderr

    # describe: spec summary, status, conditions, Events.
    await events_about(kube, namespace, "Pipeline", "CreateVertexSuccess")
    text = ok(await numaflux(cluster, "describe", "pl", "pl", "-n", namespace))
    print(text)
    assert f"Namespace:    {namespace}" in text
    assert "Vertices:           in (source), out (sink)" in text
    assert "phase:              Running" in text
    assert "Deployed" in text.split("Conditions:", 1)[1]
    assert "CreateVertexSuccess" in text.split("Events:", 1)[1]
    vtext = ok(await numaflux(cluster, "describe", "vtx", "pl-out", "-n", namespace))
    assert "Desired phase:      Running" in vtext and "Scale:              min 1, max 2" in vtext
    absent = await numaflux(cluster, "describe", "vtx", "nope", "-n", namespace)
    assert absent.code == 1 and f"Vertex {namespace}/nope not found" in absent.stderr

    # logs: the sink's output, once and followed.
    (pod,) = await pods_of(kube, namespace, "pl-out-")
    pod_name = pod["metadata"]["name"]

    async def sink_logged() -> bool:
        return "Payload - " in ok(await numaflux(cluster, "logs", pod_name, "-c", "numa", "-n", namespace))

    await until(sink_logged, "the log sink's output in numaflux logs", 60)
    seen = await asyncio.to_thread(follow_logs, cluster, namespace, pod_name)
    assert any("Payload - " in line for line in seen), seen[-5:]
    no_pod = await numaflux(cluster, "logs", "nope", "-n", namespace)
    assert no_pod.code == 1 and f"Pod {namespace}/nope not found" in no_pod.stderr
    no_container = await numaflux(cluster, "logs", pod_name, "-c", "nope", "-n", namespace)
    assert no_container.code == 1 and "container nope is not valid" in no_container.stderr

    # scale: through the subresource; beyond max the controller clamps.
    assert ok(await numaflux(cluster, "scale", "pl-out", "--replicas", "5", "-n", namespace)).strip() == (
        "vertex/pl-out scaled to 5"
    )

    async def clamped() -> JSON | None:
        v = await vertex(kube, namespace, "pl-out")
        return v if (v.get("status") or {}).get("desiredReplicas") == 2 else None

    assert (await until(clamped, "desiredReplicas clamped to max 2", 60))["spec"]["replicas"] == 5
    gone = await numaflux(cluster, "scale", "nope", "--replicas", "1", "-n", namespace)
    assert gone.code == 1 and f"Vertex {namespace}/nope not found" in gone.stderr

    # delete: the pipeline goes (after its finalizer), then it is not found.
    assert ok(await numaflux(cluster, "delete", "pl", "pl", "-n", namespace)).strip() == "pipeline/pl deleted"

    async def deleted() -> bool:
        return await get_or_none(kube, PIPELINE, namespace, "pl") is None

    await until(deleted, "pipeline deleted", 90)
    again = await numaflux(cluster, "delete", "pipeline", "pl", "-n", namespace)
    assert again.code == 1 and f"Pipeline {namespace}/pl not found" in again.stderr
