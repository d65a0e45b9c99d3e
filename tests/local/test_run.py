"""`numaflux run`: the word pipeline on a real local cluster, run, paused with drain; bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numaflux.local.run import RateMeter, isb_healthy, pause_deadline, read_total

ROOT = Path(__file__).resolve().parents[2]
BAD_PIPELINE = """\
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Pipeline
metadata:
  name: bad
spec:
  vertices:
    - name: in
      scale:
        mni: 1
      source:
        generator: {rpu: 1}
    - name: out
      sink:
        log: {}
  edges:
    - from: in
      to: out
"""


def numaflux(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMAFLUX_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "numaflux", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_read_total_sums_every_partition_of_forwarder_read_total_only() -> None:
    text = (
        "# TYPE forwarder_read counter\n"
        'forwarder_read_total{partition_name="a"} 3.0\n'
        'forwarder_read_total{partition_name="b"} 4.0\n'
        "# TYPE forwarder_write counter\n"
        'forwarder_write_total{partition_name="a"} 100.0\n'
    )
    assert read_total(text) == 7.0


def test_rate_meter_rates_come_from_deltas_and_totals_outlive_pods() -> None:
    meter = RateMeter()
    meter.observe("p0", "cat", 10.0, 100.0)
    meter.observe("p1", "cat", 10.0, 5.0)
    meter.observe("p0", "cat", 12.0, 120.0)
    assert meter.rate("cat", ["p0", "p1"]) == 10.0
    meter.forget_rate("p0")
    assert meter.rate("cat", ["p0", "p1"]) == 0.0
    assert meter.total("cat") == 125.0
    assert meter.total("out") == 0.0


def test_isb_is_healthy_only_when_running_with_a_url_and_pause_wait_is_grace_plus_margin() -> None:
    url = {"config": {"jetstream": {"url": "nats://127.0.0.1:4222"}}}
    assert isb_healthy({"status": {"phase": "Running", **url}})
    assert not isb_healthy({"status": {"phase": "Pending", **url}})
    assert not isb_healthy({"status": {"phase": "Running"}})
    assert pause_deadline(15, 100.0, margin=30.0) == 145.0


@pytest.mark.timeout(30)
def test_an_invalid_pipeline_exits_1_naming_the_field_without_starting_the_cluster(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_PIPELINE)
    data_dir = tmp_path / "cluster"
    result = numaflux("run", str(bad), "--dir", str(data_dir), timeout=25)
    assert result.returncode == 1
    assert "spec.vertices[0].scale.mni" in result.stderr
    assert not data_dir.exists()
    missing = numaflux("run", str(tmp_path / "missing.yaml"), "--dir", str(data_dir), timeout=25)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


@pytest.mark.timeout(240)
def test_run_starts_the_cluster_runs_the_word_pipeline_then_pauses_with_drain_and_prints_totals(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "cluster"
    try:
        result = numaflux(
            "run", "examples/word-pipeline.yaml", "--for", "20s", "--dir", str(data_dir), timeout=200
        )
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert re.search(r"pipeline word-pipeline Running \|", out), out
        totals = dict(re.findall(r"^  (\w+)\s+(\d+)$", out.split("totals (messages read):", 1)[1], re.M))
        assert set(totals) == {"in", "cat", "out"}, out
        assert all(int(n) > 0 for n in totals.values()), totals
        assert "drainedOnPause: true" in out
        assert "numaflux local down" in out
    finally:
        numaflux("local", "down", "--dir", str(data_dir), timeout=90)
