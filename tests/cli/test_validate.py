"""`numaflux validate`: output lines, exit codes, stdin, multi-document files, YAML syntax errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from numaflux.cli.main import app

VENV_NUMAFLUX = Path(sys.executable).parent / "numaflux"

GOOD = """\
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Pipeline
metadata:
  name: simple-pipeline
spec:
  vertices:
    - name: in
      source: {generator: {rpu: 5, duration: 1s}}
    - name: cat
      udf: {container: {image: "map-cat:stable"}}
    - name: out
      sink: {log: {}}
  edges:
    - {from: in, to: cat}
    - {from: cat, to: out}
"""

BAD = """\
apiVersion: numaflow.numaproj.io/v1alpha1
kind: Pipeline
metadata:
  name: bad
spec:
  vertices:
    - name: in
      source: {generator: {}}
    - name: cat
      udf: {container: {image: x}}
      scale: {min: 4, max: 2}
    - name: out
      sink: {log: {}}
  edges:
    - {from: in, to: cat}
    - {from: cat, to: out}
    - {from: in, to: nope}
"""

ISB = """\
apiVersion: numaflow.numaproj.io/v1alpha1
kind: InterStepBufferService
metadata: {name: default}
spec: {jetstream: {version: latest}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_files_print_ok_lines_and_exit_0(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", GOOD)
    result = CliRunner().invoke(app, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok  {good}#0  Pipeline/simple-pipeline",
        "1 object: 1 valid, 0 invalid",
    ]


def test_every_upstream_example_passes_the_command(shared_examples_dir: Path) -> None:
    files = sorted(str(p) for p in shared_examples_dir.glob("*.yaml"))
    result = CliRunner().invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("ok  ") for line in result.stdout.splitlines()) == len(files)


def test_a_multi_document_file_reports_each_document_by_index(tmp_path: Path) -> None:
    multi = _write(tmp_path, "multi.yaml", f"{ISB}---\n---\n{BAD}---\n{GOOD}")
    result = CliRunner().invoke(app, ["validate", str(multi)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"ok  {multi}#0  InterStepBufferService/default",
        f"{multi}#2  Pipeline/bad  spec.vertices[1].scale.max: "
        "min 4 is greater than max 2; it must be min <= max",
        f'{multi}#2  Pipeline/bad  spec.edges[2].to: edge "in" -> "nope": vertex "nope" does not exist',
        f"ok  {multi}#3  Pipeline/simple-pipeline",
        "3 objects: 2 valid, 1 invalid",
    ]


def test_model_errors_name_the_unknown_field(tmp_path: Path) -> None:
    typo = _write(
        tmp_path, "typo.yaml", GOOD.replace("sink: {log: {}}", "sink: {log: {}}\n      scale: {mni: 1}")
    )
    result = CliRunner().invoke(app, ["validate", str(typo)])
    assert result.exit_code == 1
    assert f"{typo}#0  Pipeline/simple-pipeline  spec.vertices[2].scale.mni: unknown field" in result.stdout


def test_a_non_numaflow_document_is_invalid(tmp_path: Path) -> None:
    cm = _write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    result = CliRunner().invoke(app, ["validate", str(cm)])
    assert result.exit_code == 1
    assert f"{cm}#0  ConfigMap/c  apiVersion: unsupported value 'v1'" in result.stdout


def test_stdin_is_read_for_dash() -> None:
    result = CliRunner().invoke(app, ["validate", "-"], input=GOOD)
    assert result.exit_code == 0, result.output
    assert "ok  <stdin>#0  Pipeline/simple-pipeline" in result.stdout


def test_a_yaml_syntax_error_shows_line_and_column_and_exits_2(tmp_path: Path) -> None:
    broken = _write(tmp_path, "broken.yaml", "kind: Pipeline\nspec:\n  vertices: [a, b\n  edges: []\n")
    good = _write(tmp_path, "good.yaml", GOOD)
    result = CliRunner().invoke(app, ["validate", str(broken), str(good)])
    assert result.exit_code == 2
    # The flow sequence opened on line 3 meets the mapping colon at line 4, column 8.
    assert result.stderr == f"{broken}:4:8: YAML syntax error: expected ',' or ']', but got ':'\n"
    # The other file is still checked.
    assert f"ok  {good}#0  Pipeline/simple-pipeline" in result.stdout


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(app, ["validate", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: cannot read: No such file or directory" in result.stderr


@pytest.mark.timeout(60)
def test_the_installed_command_runs_as_a_real_process(tmp_path: Path) -> None:
    assert VENV_NUMAFLUX.exists(), VENV_NUMAFLUX
    good = _write(tmp_path, "good.yaml", GOOD)
    bad = _write(tmp_path, "bad.yaml", BAD)
    broken = _write(tmp_path, "broken.yaml", "a: [1,\n")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_NUMAFLUX), "validate", *args], input=stdin, capture_output=True, text=True, timeout=50
        )

    ok = run(str(good))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"ok  {good}#0  Pipeline/simple-pipeline\n")
    assert "\x1b[" not in ok.stdout  # plain text when not a terminal

    invalid = run("-", stdin=BAD)
    assert invalid.returncode == 1
    assert '<stdin>#0  Pipeline/bad  spec.edges[2].to: edge "in" -> "nope"' in invalid.stdout

    unreadable = run(str(bad), str(broken))
    assert unreadable.returncode == 2
    assert f"{broken}:2:1: YAML syntax error:" in unreadable.stderr
    assert f"{bad}#0  Pipeline/bad  spec.vertices[1].scale.max" in unreadable.stdout
