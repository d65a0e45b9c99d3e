"""Pods run as real local processes: lifecycle, restarts, termination, addresses."""

from __future__ import annotations

import os
import signal

import pytest

from numaflux.kubelet import paths
from numaflux.kubelet.node import Kubelet

from .helpers import (
    POD_IP_ENV,
    SERVE_HTTP,
    alive,
    condition,
    container_status,
    eventually,
    phase,
    pod,
    python,
)

pytestmark = pytest.mark.timeout(60)


async def test_a_pod_running_a_python_command_goes_running_and_ready(kubelet: Kubelet) -> None:
    p = pod("sleeper", [python("main", "import time; time.sleep(60)")])
    kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")
    status = kubelet.status(p["metadata"]["uid"])
    assert status is not None
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("127.") and status["podIP"] != "127.0.0.1"
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == "127.0.0.1"
    assert status["qosClass"] == "BestEffort"
    main = container_status(kubelet, p, "main")
    assert main["ready"] is True and main["started"] is True and main["restartCount"] == 0
    assert "startedAt" in main["state"]["running"]
    assert main["containerID"].startswith("numaflux://")
    assert {c["type"] for c in status["conditions"]} == {
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    }
    assert all("lastTransitionTime" in c for c in status["conditions"])


async def test_an_http_readiness_probe_against_the_pod_ip_makes_the_pod_ready(kubelet: Kubelet) -> None:
    probe = {"httpGet": {"path": "/ready", "port": "metrics"}, "periodSeconds": 1}
    p = pod(
        "web",
        [
            python(
                "main",
                SERVE_HTTP,
                env=[POD_IP_ENV],
                readinessProbe=probe,
                ports=[{"name": "metrics", "containerPort": 2469}],
            )
        ],
    )
    kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "main")["state"].get("running"))
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")
    assert container_status(kubelet, p, "main")["ready"] is True


async def test_a_failing_readiness_probe_keeps_the_pod_unready(kubelet: Kubelet) -> None:
    probe = {"tcpSocket": {"port": 2469}, "periodSeconds": 1}
    p = pod("deaf", [python("main", "import time; time.sleep(60)", readinessProbe=probe)])
    kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "main")["state"].get("running"))
    await eventually(lambda: kubelet.pods[p["metadata"]["uid"]].mains[0].readiness.failures >= 2)
    assert condition(kubelet, p, "Ready") == "False"
    status = kubelet.status(p["metadata"]["uid"]) or {}
    ready = next(c for c in status["conditions"] if c["type"] == "ContainersReady")
    assert ready["reason"] == "ContainersNotReady" and "main" in ready["message"]


async def test_kill_9_restarts_the_container_with_exit_code_137(kubelet: Kubelet) -> None:
    p = pod("victim", [python("main", "print('hello', flush=True); import time; time.sleep(60)")])
    runtime = kubelet.sync_pod(p)
    log = paths.container_log_path(kubelet.data_dir, "default", "victim", "main")
    await eventually(lambda: log.exists() and log.read_text() == "hello\n")
    pid = runtime.pids()["main"]
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: container_status(kubelet, p, "main")["restartCount"] == 1)
    await eventually(lambda: container_status(kubelet, p, "main")["state"].get("running"))
    main = container_status(kubelet, p, "main")
    assert main["lastState"]["terminated"]["exitCode"] == 137
    assert main["lastState"]["terminated"]["reason"] == "Error"
    assert runtime.pids()["main"] != pid
    assert phase(kubelet, p) == "Running"
    # The previous instance's log is kept for `logs --previous`.
    await eventually(lambda: log.read_text() == "hello\n")
    assert (
        paths.previous_container_log_path(kubelet.data_dir, "default", "victim", "main").read_text()
        == "hello\n"
    )


async def test_termination_sigkills_a_process_that_ignores_sigterm_after_the_grace(kubelet: Kubelet) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    p = pod("stubborn", [python("main", code)], terminationGracePeriodSeconds=1)
    runtime = kubelet.sync_pod(p)
    log = paths.container_log_path(kubelet.data_dir, "default", "stubborn", "main")
    await eventually(lambda: log.exists() and "up" in log.read_text())
    pid = runtime.pids()["main"]
    await kubelet.terminate_pod(p["metadata"]["uid"])
    assert not alive(pid)
    main = container_status(kubelet, p, "main")
    assert main["state"]["terminated"]["exitCode"] == 137
    assert phase(kubelet, p) == "Failed"


async def test_termination_stops_a_cooperative_process_with_sigterm(kubelet: Kubelet) -> None:
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
        "print('up', flush=True); time.sleep(60)"
    )
    p = pod("polite", [python("main", code)], terminationGracePeriodSeconds=30)
    runtime = kubelet.sync_pod(p)
    # Ready comes with the process start; the handler is installed only once the program says so.
    log = paths.container_log_path(kubelet.data_dir, "default", "polite", "main")
    await eventually(lambda: log.exists() and "up" in log.read_text())
    pid = runtime.pids()["main"]
    await kubelet.terminate_pod(p["metadata"]["uid"])
    assert not alive(pid)
    assert container_status(kubelet, p, "main")["state"]["terminated"]["exitCode"] == 0
    assert phase(kubelet, p) == "Succeeded"


async def test_a_deletion_timestamp_terminates_the_pod_within_its_grace(kubelet: Kubelet) -> None:
    p = pod("deleted", [python("main", "import time; time.sleep(60)")])
    runtime = kubelet.sync_pod(p)
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")
    pid = runtime.pids()["main"]
    p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    p["metadata"]["deletionGracePeriodSeconds"] = 2
    kubelet.sync_pod(p)
    await eventually(lambda: runtime.done.is_set(), within=10)
    assert not alive(pid)
    await kubelet.remove_pod(p["metadata"]["uid"])
    assert not paths.pod_dir(kubelet.data_dir, "default", "deleted").exists()


async def test_two_pods_can_both_listen_on_port_2469(kubelet: Kubelet) -> None:
    probe = {"httpGet": {"path": "/", "port": 2469}, "periodSeconds": 1}
    pods = [
        pod(f"web-{i}", [python("main", SERVE_HTTP, env=[POD_IP_ENV], readinessProbe=probe)])
        for i in range(2)
    ]
    for p in pods:
        kubelet.sync_pod(p)
    for p in pods:
        await eventually(lambda p=p: condition(kubelet, p, "Ready") == "True")
    ips = {(kubelet.status(p["metadata"]["uid"]) or {})["podIP"] for p in pods}
    assert len(ips) == 2
    assert all(container_status(kubelet, p, "main")["restartCount"] == 0 for p in pods)


async def test_an_unmappable_image_waits_with_image_not_runnable_locally(kubelet: Kubelet) -> None:
    p = pod("foreign", [{"name": "main", "image": "docker.io/library/redis:7"}])
    kubelet.sync_pod(p)
    await eventually(
        lambda: (
            container_status(kubelet, p, "main")["state"].get("waiting", {}).get("reason")
            == "ImageNotRunnableLocally"
        )
    )
    message = container_status(kubelet, p, "main")["state"]["waiting"]["message"]
    assert str(paths.image_map_path(kubelet.data_dir)) in message
    assert "docker.io/library/redis:" in message
    assert phase(kubelet, p) == "Pending"


async def test_an_image_map_entry_makes_an_image_runnable(kubelet: Kubelet) -> None:
    paths.image_map_path(kubelet.data_dir).write_text(
        'example.com/greeter: ["{python}", "-c", "print(\'mapped\')"]\n'
    )
    p = pod("mapped", [{"name": "main", "image": "example.com/greeter:v1"}], restartPolicy="Never")
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Succeeded")
    log = paths.container_log_path(kubelet.data_dir, "default", "mapped", "main").read_text()
    assert log == "mapped\n"
    assert container_status(kubelet, p, "main")["state"]["terminated"]["reason"] == "Completed"


async def test_a_failing_container_enters_crash_loop_back_off(kubelet: Kubelet) -> None:
    p = pod("crasher", [python("main", "print('boom'); raise SystemExit(3)")])
    kubelet.sync_pod(p)
    await eventually(
        lambda: (
            container_status(kubelet, p, "main")["state"].get("waiting", {}).get("reason")
            == "CrashLoopBackOff"
        )
    )
    main = container_status(kubelet, p, "main")
    assert main["lastState"]["terminated"]["exitCode"] == 3
    assert main["restartCount"] >= 1
    assert "back-off" in main["state"]["waiting"]["message"]
    await eventually(lambda: container_status(kubelet, p, "main")["restartCount"] >= 3)
    assert phase(kubelet, p) == "Running"


async def test_restart_policy_never_leaves_a_failed_pod(kubelet: Kubelet) -> None:
    p = pod("once", [python("main", "raise SystemExit(2)")], restartPolicy="Never")
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Failed")
    main = container_status(kubelet, p, "main")
    assert main["state"]["terminated"]["exitCode"] == 2 and main["restartCount"] == 0
    assert condition(kubelet, p, "Ready") == "False"


async def test_a_failing_liveness_probe_restarts_the_container(kubelet: Kubelet) -> None:
    probe = {"exec": {"command": ["/bin/false"]}, "periodSeconds": 1, "failureThreshold": 2}
    p = pod(
        "sick",
        [python("main", "import time; time.sleep(60)", livenessProbe=probe)],
        terminationGracePeriodSeconds=2,
    )
    kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "main")["restartCount"] >= 1)
    assert container_status(kubelet, p, "main")["lastState"]["terminated"]["exitCode"] in (137, 143)


async def test_a_startup_probe_gates_started_and_readiness(kubelet: Kubelet) -> None:
    code = "import time, pathlib; time.sleep(1.5); pathlib.Path('started').touch(); time.sleep(60)"
    probe = {"exec": {"command": ["test", "-f", "started"]}, "periodSeconds": 1, "failureThreshold": 30}
    p = pod("slow", [python("main", code, startupProbe=probe)])
    kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "main")["state"].get("running"))
    assert container_status(kubelet, p, "main")["started"] is False
    await eventually(lambda: container_status(kubelet, p, "main")["started"])
    await eventually(lambda: condition(kubelet, p, "Ready") == "True")
