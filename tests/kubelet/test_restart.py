"""A kubelet that dies leaves its pods running; the next one adopts them or kills them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from numaflux.kubelet.node import Kubelet

from .helpers import DATA, PY, alive, condition, container_status, eventually, pod, python

pytestmark = pytest.mark.timeout(60)


async def _run_in_a_kubelet_that_dies(data_dir: Path, p: dict[str, Any], tmp_path: Path) -> tuple[int, str]:
    """Run the pod in a separate kubelet process, SIGKILL that kubelet; (container pid, pod IP)."""
    spec_file = tmp_path / f"{p['metadata']['name']}.json"
    spec_file.write_text(json.dumps(p))
    first = await asyncio.create_subprocess_exec(
        PY,
        str(DATA / "run_one_pod.py"),
        str(data_dir),
        str(spec_file),
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert first.stdout is not None
        line = await asyncio.wait_for(first.stdout.readline(), 30)
        pid_text, address = line.decode().split()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        await first.wait()
    return int(pid_text), address


@pytest_asyncio.fixture(loop_scope="function")
async def second(kubelet: Kubelet) -> AsyncIterator[Kubelet]:
    """A fresh kubelet on the same data dir (the fixture `kubelet` only supplies config and cleanup)."""
    node = Kubelet(kubelet.config)
    yield node
    await node.shutdown()
    for uid in list(node.pods):
        await node.remove_pod(uid)
    node.kill_unclaimed()


async def test_a_restarted_kubelet_adopts_running_containers_with_their_address(
    kubelet: Kubelet, second: Kubelet, tmp_path: Path
) -> None:
    p = pod("sticky", [python("main", "import time; time.sleep(60)")])
    pid, address = await _run_in_a_kubelet_that_dies(kubelet.data_dir, p, tmp_path)
    assert alive(pid)
    await second.start()
    second.sync_pod(p)
    second.forget_missing({p["metadata"]["uid"]})
    await eventually(lambda: condition(second, p, "Ready") == "True")
    main = container_status(second, p, "main")
    assert main["containerID"] == f"numaflux://{pid}" and main["restartCount"] == 0
    assert (second.status(p["metadata"]["uid"]) or {})["podIP"] == address
    assert alive(pid)
    # The adopted process is not our child: its exit is seen, its code is not.
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: container_status(second, p, "main")["restartCount"] == 1)
    last = container_status(second, p, "main")["lastState"]["terminated"]
    assert last["reason"] == "ContainerStatusUnknown" and last["exitCode"] == 137
    await eventually(lambda: container_status(second, p, "main")["state"].get("running"))


async def test_termination_of_an_adopted_pod_stops_its_process(
    kubelet: Kubelet, second: Kubelet, tmp_path: Path
) -> None:
    p = pod("adoptee", [python("main", "import time; time.sleep(60)")])
    pid, _ = await _run_in_a_kubelet_that_dies(kubelet.data_dir, p, tmp_path)
    await second.start()
    second.sync_pod(p)
    await eventually(lambda: condition(second, p, "Ready") == "True")
    await second.terminate_pod(p["metadata"]["uid"], grace=5)
    await eventually(lambda: not alive(pid))


async def test_leftovers_of_pods_that_no_longer_exist_are_killed(
    kubelet: Kubelet, second: Kubelet, tmp_path: Path
) -> None:
    p = pod("orphan", [python("main", "import time; time.sleep(60)")])
    pid, _ = await _run_in_a_kubelet_that_dies(kubelet.data_dir, p, tmp_path)
    await second.start()
    second.forget_missing(set())
    await eventually(lambda: not alive(pid))
    assert not (kubelet.data_dir / "pods" / "default" / "orphan").exists()
    assert second.addresses.get(p["metadata"]["uid"]) is None


async def test_a_container_that_vanished_while_no_kubelet_ran_counts_as_restarted(kubelet: Kubelet) -> None:
    p = pod("vanished", [python("main", "import time; time.sleep(60)")])
    p["status"] = {
        "containerStatuses": [
            {
                "name": "main",
                "restartCount": 2,
                "containerID": "numaflux://1",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ]
    }
    kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")
    main = container_status(kubelet, p, "main")
    assert main["restartCount"] == 3
    last = main["lastState"]["terminated"]
    assert last["reason"] == "ContainerStatusUnknown" and last["exitCode"] == 137
    assert last["startedAt"] == "2026-01-01T00:00:00Z" and last["containerID"] == "numaflux://1"
