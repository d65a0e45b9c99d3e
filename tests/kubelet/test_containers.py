"""Init containers, native sidecars, volumes, /var/run/numaflow isolation and environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from numaflux.kubelet import paths
from numaflux.kubelet.node import Kubelet
from numaflux.kubelet.resolver import StaticObjects

from .helpers import container_status, eventually, phase, pod, python

pytestmark = pytest.mark.timeout(60)

VAR_RUN_NUMAFLOW_REAL = os.path.realpath("/var/run") + "/numaflow"
DATA_MOUNT = [{"name": "data", "mountPath": "/data"}]
EMPTY_DIR = [{"name": "data", "emptyDir": {}}]


def _exists(path: str) -> bool:
    return Path(path).exists()


def _listing(path: str) -> list[str] | None:
    return sorted(os.listdir(path)) if os.path.isdir(path) else None


def log(node: Kubelet, pod_name: str, container: str) -> str:
    path = paths.container_log_path(node.data_dir, "default", pod_name, container)
    return path.read_text() if path.exists() else ""


async def test_an_init_container_runs_to_completion_before_the_main_container(kubelet: Kubelet) -> None:
    init = python(
        "prepare",
        "import time, pathlib; time.sleep(0.5); pathlib.Path('/data/ready').write_text('x')",
        volumeMounts=DATA_MOUNT,
    )
    main = python(
        "main", "import os; print(os.path.exists('/data/ready'), flush=True)", volumeMounts=DATA_MOUNT
    )
    p = pod("inits", [main], initContainers=[init], volumes=EMPTY_DIR, restartPolicy="Never")
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Succeeded")
    assert log(kubelet, "inits", "main") == "True\n"
    prepared = container_status(kubelet, p, "prepare", init=True)
    assert prepared["state"]["terminated"]["reason"] == "Completed" and prepared["ready"] is True


async def test_a_failing_init_container_is_retried_and_blocks_the_main_container(kubelet: Kubelet) -> None:
    init = python(
        "flaky",
        "import pathlib, sys; f = pathlib.Path('/data/tries'); "
        "n = len(f.read_text()) if f.exists() else 0; f.write_text('x' * (n + 1)); "
        "sys.exit(0 if n >= 1 else 1)",
        volumeMounts=DATA_MOUNT,
    )
    main = python("main", "print(open('/data/tries').read(), flush=True)", volumeMounts=DATA_MOUNT)
    p = pod("retry", [main], initContainers=[init], volumes=EMPTY_DIR, restartPolicy="OnFailure")
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Succeeded")
    assert log(kubelet, "retry", "main") == "xx\n"
    flaky = container_status(kubelet, p, "flaky", init=True)
    assert flaky["restartCount"] == 1 and flaky["lastState"]["terminated"]["exitCode"] == 1


async def test_a_failing_init_container_fails_a_never_restarting_pod(kubelet: Kubelet) -> None:
    p = pod(
        "doomed",
        [python("main", "pass")],
        initContainers=[python("init", "raise SystemExit(4)")],
        restartPolicy="Never",
    )
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Failed")
    assert container_status(kubelet, p, "main")["state"]["waiting"]["reason"] == "PodInitializing"


async def test_a_native_sidecar_starts_before_and_stops_after_the_main_container(kubelet: Kubelet) -> None:
    sidecar_code = """
import pathlib, signal, sys, time
def stop(*_):
    seen = pathlib.Path('/data/main-stopped').exists()
    pathlib.Path('/data/sidecar-saw-main-stopped').write_text(str(seen))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(0.5)
pathlib.Path('/data/sidecar-up').touch()
while True: time.sleep(1)
"""
    main_code = """
import os, pathlib, signal, sys, time
def stop(*_):
    pathlib.Path('/data/main-stopped').touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(os.path.exists('/data/sidecar-up'), flush=True)
while True: time.sleep(1)
"""
    startup = {
        "exec": {"command": ["test", "-f", "/data/sidecar-up"]},
        "periodSeconds": 1,
        "failureThreshold": 30,
    }
    sidecar = python(
        "udf", sidecar_code, restartPolicy="Always", startupProbe=startup, volumeMounts=DATA_MOUNT
    )
    p = pod(
        "sidecars",
        [python("numa", main_code, volumeMounts=DATA_MOUNT)],
        initContainers=[sidecar],
        volumes=EMPTY_DIR,
        terminationGracePeriodSeconds=10,
    )
    kubelet.sync_pod(p)
    await eventually(lambda: log(kubelet, "sidecars", "numa") == "True\n")
    udf = container_status(kubelet, p, "udf", init=True)
    assert udf["started"] is True and udf["ready"] is True and "running" in udf["state"]
    await kubelet.terminate_pod(p["metadata"]["uid"])
    volume = paths.volume_dir(kubelet.data_dir, "default", "sidecars", "data")
    assert (volume / "sidecar-saw-main-stopped").read_text() == "True"


async def test_an_empty_dir_is_shared_by_the_containers_of_a_pod_and_private_to_it(kubelet: Kubelet) -> None:
    writer = "import pathlib, time; pathlib.Path('/data/note').write_text('hi'); time.sleep(60)"
    reader = (
        "import os, time\nwhile not os.path.exists('/data/note'): time.sleep(0.05)\n"
        "print(open('/data/note').read(), flush=True); time.sleep(60)"
    )
    p = pod(
        "sharer",
        [
            python("writer", writer, volumeMounts=DATA_MOUNT),
            python("reader", reader, volumeMounts=DATA_MOUNT),
        ],
        volumes=EMPTY_DIR,
    )
    other = pod(
        "outsider",
        [
            python(
                "main", "import os; print(os.path.exists('/data/note'), flush=True)", volumeMounts=DATA_MOUNT
            )
        ],
        volumes=EMPTY_DIR,
        restartPolicy="Never",
    )
    kubelet.sync_pod(p)
    await eventually(lambda: log(kubelet, "sharer", "reader") == "hi\n")
    kubelet.sync_pod(other)
    await eventually(lambda: phase(kubelet, other) == "Succeeded")
    assert log(kubelet, "outsider", "main") == "False\n"
    assert (paths.volume_dir(kubelet.data_dir, "default", "sharer", "data") / "note").read_text() == "hi"
    assert not _exists("/data/note")


async def test_two_pods_each_get_their_own_var_run_numaflow(kubelet: Kubelet) -> None:
    before = _listing(paths.VAR_RUN_NUMAFLOW)
    code = (
        "import os, socket, time\n"
        "print(sorted(os.listdir('/var/run/numaflow')), flush=True)\n"
        "s = socket.socket(socket.AF_UNIX); s.bind('/var/run/numaflow/x.sock'); s.listen()\n"
        "print('bound', flush=True); time.sleep(60)"
    )
    shared = [{"name": "var-run-numaflow", "mountPath": "/var/run/numaflow"}]
    pods = [
        pod(
            "uds-a",
            [python("main", code, volumeMounts=shared)],
            volumes=[{"name": "var-run-numaflow", "emptyDir": {"medium": "Memory"}}],
        ),
        pod("uds-b", [python("main", code)]),  # mounts nothing there: gets a private directory anyway
    ]
    for p in pods:
        kubelet.sync_pod(p)
    for p in pods:
        name = p["metadata"]["name"]
        await eventually(lambda name=name: log(kubelet, name, "main") == "[]\nbound\n")
    assert (paths.volume_dir(kubelet.data_dir, "default", "uds-a", "var-run-numaflow") / "x.sock").is_socket()
    assert (paths.private_run_dir(kubelet.data_dir, "default", "uds-b") / "x.sock").is_socket()
    # The host's directory is at most created empty as a mount point; nothing is written into it.
    assert _listing(paths.VAR_RUN_NUMAFLOW) == (before if before is not None else [])


async def test_env_field_refs_and_variable_expansion_reach_the_process(kubelet: Kubelet) -> None:
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hello $(POD_NAME) $$(POD_NAME) $(MISSING)"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
        {"name": "ABSENT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}},
    ]
    code = (
        "import json, os, socket, sys; open('relative', 'w').write(os.getcwd()); "
        "print(json.dumps({**os.environ, 'ARGV': sys.argv[1:], 'HOST': socket.gethostname()}), flush=True)"
    )
    container = python("main", code, env=env, envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}])
    container["workingDir"] = "/var/run/numaflow"
    container["args"] = ["$(POD_NAME)", "$(POD_IP)"]
    p = pod("envy", [container], restartPolicy="Never")
    kubelet.config.resolver = StaticObjects(
        config_maps={("default", "cfg"): {"level": b"debug"}},
        secrets={("default", "creds"): {"token": b"s3cret"}},
    )
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Succeeded")
    seen = json.loads(log(kubelet, "envy", "main"))
    pod_ip = (kubelet.status(p["metadata"]["uid"]) or {})["podIP"]
    assert seen["POD_NAME"] == "envy" and seen["POD_NS"] == "default" and seen["APP"] == "envy"
    assert seen["POD_IP"] == pod_ip
    assert seen["GREETING"] == "hello envy $(POD_NAME) $(MISSING)"
    assert seen["TOKEN"] == "s3cret" and seen["LEVEL"] == "debug" and seen["CFG_level"] == "debug"
    assert "ABSENT" not in seen
    assert seen["ARGV"] == ["envy", pod_ip]
    assert seen["HOSTNAME"] == "envy" and seen["HOST"] == "envy"
    assert seen["NUMAFLUX_POD_IP"] == pod_ip
    # workingDir applies after the mounts: a relative write lands in the pod's own /var/run/numaflow.
    written = (paths.private_run_dir(kubelet.data_dir, "default", "envy") / "relative").read_text()
    assert written == VAR_RUN_NUMAFLOW_REAL
    leaked = (
        set(seen)
        - {"PATH", "HOME", "LANG", "VIRTUAL_ENV", "HOSTNAME", "ARGV", "HOST", "LC_CTYPE", "NUMAFLUX_POD_IP"}
        - {e["name"] for e in env}
        - {"CFG_level"}
    )
    assert leaked == set()


async def test_a_missing_secret_keeps_the_container_waiting_with_a_config_error(kubelet: Kubelet) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "token"}}}]
    p = pod("unconfigured", [python("main", "pass", env=env)])
    kubelet.sync_pod(p)
    await eventually(
        lambda: (
            container_status(kubelet, p, "main")["state"].get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
        )
    )
    assert container_status(kubelet, p, "main")["state"]["waiting"]["message"] == 'secret "absent" not found'


async def test_config_map_and_secret_volumes_are_mounted_as_files(kubelet: Kubelet) -> None:
    kubelet.config.resolver = StaticObjects(
        config_maps={("default", "settings"): {"level": b"debug", "mode": b"fast"}},
        secrets={("default", "creds"): {"token": b"s3cret"}},
    )
    code = (
        "import os\n"
        "print(sorted(os.listdir('/etc/settings')), open('/etc/settings/level').read(), flush=True)\n"
        "print(open('/etc/creds/renamed').read(), open('/etc/mode-only').read(), flush=True)\n"
        "try:\n    open('/etc/settings/x', 'w')\n"
        "except OSError as e:\n    print('read-only', e.errno, flush=True)"
    )
    mounts = [
        {"name": "settings", "mountPath": "/etc/settings", "readOnly": True},
        {"name": "creds", "mountPath": "/etc/creds"},
        {"name": "settings", "mountPath": "/etc/mode-only", "subPath": "mode"},
    ]
    volumes = [
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "creds", "secret": {"secretName": "creds", "items": [{"key": "token", "path": "renamed"}]}},
    ]
    p = pod("mounted", [python("main", code, volumeMounts=mounts)], volumes=volumes, restartPolicy="Never")
    kubelet.sync_pod(p)
    await eventually(lambda: phase(kubelet, p) == "Succeeded")
    assert log(kubelet, "mounted", "main") == "['level', 'mode'] debug\ns3cret fast\nread-only 30\n"
    assert not _exists("/etc/settings/level") and not _exists("/etc/creds/renamed")
    await kubelet.remove_pod(p["metadata"]["uid"])
    # Mount points the kubelet had to create on the host are gone with the pod.
    assert not _exists("/etc/settings") and not _exists("/etc/creds") and not _exists("/etc/mode-only")


async def test_a_crashing_sidecar_is_restarted_while_the_main_container_keeps_running(
    kubelet: Kubelet,
) -> None:
    sidecar = python("udf", "import time; time.sleep(0.3); raise SystemExit(1)", restartPolicy="Always")
    p = pod("flaky-sidecar", [python("numa", "import time; time.sleep(60)")], initContainers=[sidecar])
    runtime = kubelet.sync_pod(p)
    await eventually(lambda: container_status(kubelet, p, "udf", init=True)["restartCount"] >= 2)
    numa = container_status(kubelet, p, "numa")
    assert "running" in numa["state"] and numa["restartCount"] == 0
    assert runtime.pids().get("numa") is not None
    assert phase(kubelet, p) == "Running"
