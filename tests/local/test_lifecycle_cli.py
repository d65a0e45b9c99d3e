"""`numaflux pause|resume|status`: pure decisions, and the commands against a real local cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numaflux.api import constants as c
from numaflux.local import lifecycle as lc

ROOT = Path(__file__).resolve().parents[2]


def numaflux(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMAFLUX_DIR", "KUBECONFIG")}
    return subprocess.run(
        [sys.executable, "-m", "numaflux", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _vertex(name: str, phase: str, desired: int, current: int, ready: int, paused: bool = False) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {"name": f"p-{name}", "labels": {c.KEY_VERTEX_NAME: name}, "generation": 2},
        "spec": {"lifecycle": {"desiredPhase": "Paused" if paused else "Running"}, "replicas": desired},
        "status": {
            "phase": phase,
            "desiredReplicas": desired,
            "replicas": current,
            "readyReplicas": ready,
            "observedGeneration": 2,
        },
    }


def test_patches_waits_and_event_timeline_follow_the_lifecycle_rules() -> None:
    assert lc.resume_patch("slow")["metadata"]["annotations"] == {c.KEY_RESUME_STRATEGY: "slow"}
    fast = lc.resume_patch("fast")
    assert fast == {
        "metadata": {"annotations": {c.KEY_RESUME_STRATEGY: None}},
        "spec": {"lifecycle": {"desiredPhase": "Running"}},
    }
    with pytest.raises(ValueError, match="--strategy"):
        lc.resume_patch("medium")

    marker = {"annotations": {c.KEY_PAUSE_TIMESTAMP: "2026-01-01T00:00:00Z"}}
    assert lc.is_paused({"metadata": marker, "status": {"phase": "Paused"}})
    assert not lc.is_paused({"metadata": {}, "status": {"phase": "Paused"}})  # stale phase, no pause
    assert not lc.is_paused({"metadata": marker, "status": {"phase": "Pausing"}})

    pl = {
        "metadata": {},
        "spec": {"vertices": [{"name": "in"}, {"name": "out"}]},
        "status": {"phase": "Running"},
    }
    rows = lc.vertex_rows(pl, [_vertex("out", "Running", 2, 2, 2), _vertex("in", "Running", 1, 1, 1)])
    assert [r.name for r in rows] == ["in", "out"]
    assert lc.is_resumed(pl, rows)
    assert not lc.is_resumed({**pl, "metadata": marker}, rows)
    lagging = lc.vertex_rows(pl, [_vertex("in", "Running", 1, 1, 1), _vertex("out", "Running", 2, 2, 1)])
    assert not lc.is_resumed(pl, lagging)
    still_paused = lc.vertex_rows(pl, [_vertex("in", "Running", 0, 0, 0, paused=True)])
    assert not lc.is_resumed(pl, still_paused)

    events = [
        {
            "involvedObject": {"kind": "Pipeline", "name": "p"},
            "reason": "B",
            "lastTimestamp": "2026-01-01T00:00:02Z",
        },
        {
            "involvedObject": {"kind": "Vertex", "name": "p"},
            "reason": "X",
            "lastTimestamp": "2026-01-01T00:00:01Z",
        },
        {
            "involvedObject": {"kind": "Pipeline", "name": "q"},
            "reason": "Y",
            "lastTimestamp": "2026-01-01T00:00:00Z",
        },
        {
            "involvedObject": {"kind": "Pipeline", "name": "p"},
            "reason": "A",
            "lastTimestamp": "2026-01-01T00:00:00Z",
        },
    ]
    assert [e["reason"] for e in lc.pipeline_events(events, "p")] == ["A", "B"]


@pytest.mark.timeout(280)
def test_resume_pause_and_status_drive_a_real_pipeline_with_distinct_exit_codes(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "cluster")
    try:
        started = numaflux(
            "run", "examples/word-pipeline.yaml", "--for", "8s", "--dir", data_dir, timeout=150
        )
        assert started.returncode == 0, started.stdout + started.stderr

        missing = numaflux("pause", "nosuch", "--dir", data_dir, timeout=30)
        assert missing.returncode == 1
        assert "default/nosuch" in missing.stderr and "not found" in missing.stderr

        impatient = numaflux(
            "resume", "word-pipeline", "--wait", "--timeout", "0.001", "--dir", data_dir, timeout=30
        )
        assert impatient.returncode == 3, impatient.stdout + impatient.stderr
        assert "not Running with every vertex ready" in impatient.stderr

        resumed = numaflux(
            "resume", "word-pipeline", "--wait", "--timeout", "90", "--dir", data_dir, timeout=100
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        targets = dict(
            line.split()
            for line in resumed.stdout.split("ready at its target:", 1)[1].splitlines()
            if line.strip()
        )
        assert targets == {"in": "1", "cat": "1", "out": "1"}, resumed.stdout

        paused = numaflux(
            "pause", "word-pipeline", "--wait", "--timeout", "60", "--dir", data_dir, timeout=70
        )
        assert paused.returncode == 0, paused.stdout + paused.stderr
        assert "Paused, drained" in paused.stdout
        assert "word-pipeline-cat" in paused.stdout  # buffer progress lines

        status = numaflux("status", "word-pipeline", "--dir", data_dir, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "desired phase:  Paused" in status.stdout
        assert "current phase:  Paused" in status.stdout
        assert "drainedOnPause: true" in status.stdout
        assert "PausingPipeline" in status.stdout
    finally:
        numaflux("local", "down", "--dir", data_dir, timeout=90)
