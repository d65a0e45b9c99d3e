"""Unmodified pynumaflow programs, which bind /var/run/numaflow, run side by side in separate pods."""

from __future__ import annotations

import tempfile
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pynumaflow.proto.mapper import map_pb2_grpc

from numaflux.kubelet import paths
from numaflux.kubelet.node import Kubelet

from .helpers import DATA, PY, condition, eventually, pod

pytestmark = pytest.mark.timeout(90)

END = "U+005C__END__"


async def test_an_unmodified_map_async_server_runs_in_two_pods_at_once(kubelet: Kubelet) -> None:
    volume = [{"name": "var-run-numaflow", "emptyDir": {"medium": "Memory"}}]
    mount = [{"name": "var-run-numaflow", "mountPath": "/var/run/numaflow"}]
    udf = {
        "name": "udf",
        "image": "example.com/map-cat",
        "command": [PY, str(DATA / "map_cat.py")],
        "volumeMounts": mount,
    }
    pods = [pod(f"cat-{i}", [udf], volumes=volume) for i in range(2)]
    for p in pods:
        kubelet.sync_pod(p)
    for p in pods:
        run_dir = paths.volume_dir(kubelet.data_dir, "default", p["metadata"]["name"], "var-run-numaflow")
        info = run_dir / "mapper-server-info"
        await eventually(lambda info=info: info.exists() and info.read_text().endswith(END), within=60)
        assert '"MAP_MODE": "unary-map"' in info.read_text()
        assert (run_dir / "map.sock").is_socket()
        # Socket paths are limited to 107 bytes: reach the pod's directory through a short link.
        with tempfile.TemporaryDirectory(dir="/tmp") as short:
            link = Path(short) / "d"
            link.symlink_to(run_dir)
            async with grpc.aio.insecure_channel(f"unix://{link / 'map.sock'}") as channel:
                reply = await map_pb2_grpc.MapStub(channel).IsReady(empty_pb2.Empty(), timeout=10)
        assert reply.ready is True
        assert condition(kubelet, p, "Ready") == "True"
