"""`numaflux local up|down|status` against real processes in a temporary state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

NUMAFLUX = [sys.executable, "-m", "numaflux"]
KUBECTL = str(Path(sys.executable).parent / "kubectl")

pytestmark = pytest.mark.timeout(240)


def run(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMAFLUX_DIR": str(data_dir)}
    return subprocess.run(
        [*NUMAFLUX, "local", *args], env=env, capture_output=True, text=True, timeout=120, check=check
    )


def kubectl(data_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(data_dir / "kubeconfig"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def processes_using(data_dir: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(data_dir) in cmdline:
            found.append(int(entry.name))
    return found


def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "cluster"
    yield directory
    run("down", data_dir=directory, check=False)


def test_up_starts_every_component_and_a_second_up_is_harmless(data_dir: Path) -> None:
    first = run("up", data_dir=data_dir)
    assert "apiserver   started" in first.stdout
    assert "kubelet     started" in first.stdout
    assert (data_dir / "kubeconfig").stat().st_mode & 0o777 == 0o600

    second = run("up", data_dir=data_dir)
    assert "apiserver   already running" in second.stdout
    assert "kubelet     already running" in second.stdout

    status = run("status", data_dir=data_dir)
    assert "apiserver   running" in status.stdout
    assert "kubelet     running" in status.stdout
    assert "Ready" in kubectl(data_dir, "get", "nodes")

    # where to scrape: the controller's own URL (9090, or a free port if that is taken) answers
    (line,) = [x for x in second.stdout.splitlines() if x.startswith("metrics     controller")]
    url = line.split()[-1]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert b"controller_build_info{" in response.read()
    assert "vertex pods   http://{pod IP}:2469/metrics" in second.stdout


def test_down_stops_every_process_and_status_says_so(data_dir: Path) -> None:
    run("up", data_dir=data_dir)
    down = run("down", data_dir=data_dir)
    assert "apiserver   stopped" in down.stdout
    wait_for(lambda: not processes_using(data_dir), timeout=30)
    status = run("status", data_dir=data_dir, check=False)
    assert status.returncode == 1
    assert "apiserver   not running" in status.stdout


def test_a_stale_pid_file_is_detected_and_replaced(data_dir: Path) -> None:
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / "apiserver.pid").write_text(json.dumps({"pid": dead.pid, "argv": ["gone"]}))

    status = run("status", data_dir=data_dir, check=False)
    assert f"stale pid file, pid {dead.pid}" in status.stdout

    up = run("up", data_dir=data_dir)
    assert "apiserver   started (replaced a stale pid file)" in up.stdout


def test_objects_and_pods_survive_down_and_up(data_dir: Path) -> None:
    run("up", data_dir=data_dir)
    kubectl(data_dir, "create", "configmap", "kept", "--from-literal=answer=42")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sleeper"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "main",
                    "image": "python",
                    "command": [sys.executable, "-c", "import time; time.sleep(600)"],
                }
            ],
        },
    }
    manifest = data_dir / "pod.json"
    manifest.write_text(json.dumps(pod))
    kubectl(data_dir, "apply", "-f", str(manifest))
    kubectl(data_dir, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")
    uid = kubectl(data_dir, "get", "pod", "sleeper", "-o", "jsonpath={.metadata.uid}")

    run("down", data_dir=data_dir)
    wait_for(lambda: not processes_using(data_dir), timeout=30)
    run("up", data_dir=data_dir)

    assert kubectl(data_dir, "get", "configmap", "kept", "-o", "jsonpath={.data.answer}") == "42"
    assert kubectl(data_dir, "get", "pod", "sleeper", "-o", "jsonpath={.metadata.uid}") == uid
    kubectl(data_dir, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s")


def test_kubectl_follows_the_log_of_a_running_container_and_sees_it_restart(data_dir: Path) -> None:
    run("up", data_dir=data_dir)
    program = (
        "import itertools, time\n"
        "for i in itertools.count():\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(0.2)\n"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ticker"},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "main", "image": "python", "command": [sys.executable, "-c", program]}],
        },
    }
    manifest = data_dir / "ticker.json"
    manifest.write_text(json.dumps(pod))
    kubectl(data_dir, "apply", "-f", str(manifest))
    kubectl(data_dir, "wait", "--for=condition=Ready", "pod/ticker", "--timeout=60s")

    follower = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(data_dir / "kubeconfig"), "logs", "-f", "ticker"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        seen = [int(follower.stdout.readline().split()[1]) for _ in range(15)]
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    # Consecutive ticks, more of them than existed when kubectl attached: it follows the live container.
    assert seen == list(range(seen[0], seen[0] + 15))

    pid_of_container = [
        pid
        for pid in processes_using(Path(sys.executable).parent)
        if "print(f'tick" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]
    assert len(pid_of_container) == 1
    os.kill(pid_of_container[0], 9)

    def restarted() -> bool:
        count = kubectl(
            data_dir, "get", "pod", "ticker", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"
        )
        return count == "1"

    wait_for(restarted, timeout=60)
    last_exit = kubectl(
        data_dir,
        "get",
        "pod",
        "ticker",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
    )
    assert last_exit == "137"
    kubectl(data_dir, "wait", "--for=condition=Ready", "pod/ticker", "--timeout=60s")
