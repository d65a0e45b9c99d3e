"""``numaflux validate FILE...``: check NumaFlow YAML documents offline."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from numaflux.api.loader import load_yaml_documents
from numaflux.api.validation import validate_document

STDIN = "-"
EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2

_HELP = "\n\n".join(
    (
        "Validate NumaFlow objects (Pipeline, Vertex, MonoVertex, InterStepBufferService) in YAML files.",
        "Each FILE may hold several documents separated by '---' (empty documents are skipped); '-' reads "
        "standard input. Every document is loaded (unknown fields and wrong types are errors) and checked "
        "against NumaFlow's validation rules; all problems of a document are reported, not just the first.",
        "Standard output gets one line per valid object, 'ok  FILE#N  Kind/name' (N is the 0-based "
        "document index), one line per problem, 'FILE#N  Kind/name  PATH: MESSAGE' (for example "
        "'pl.yaml#1  Pipeline/bad  spec.vertices[1].scale.mni: unknown field'), then a summary line.",
        "Files that cannot be read or parsed are reported on standard error as 'FILE: cannot read: REASON' "
        "or 'FILE:LINE:COLUMN: YAML syntax error: PROBLEM'.",
        "Exit status: 0 if every object is valid, 1 if any is invalid, 2 if any file is unreadable or "
        "not YAML.",
    )
)


@dataclass
class Tally:
    valid: int = 0
    invalid: int = 0
    unreadable: int = 0

    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_INVALID if self.invalid else EXIT_OK


def _read(file: str) -> str:
    if file == STDIN:
        return sys.stdin.read()
    return Path(file).read_text(encoding="utf-8")


def _display(file: str) -> str:
    return "<stdin>" if file == STDIN else file


def _documents(text: str) -> list[Any]:
    """All documents of ``text`` (None for empty ones); raises yaml.YAMLError."""
    return load_yaml_documents(text)


def _yaml_error(name: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"{name}: YAML syntax error: {problem}"
    return f"{name}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}"


def check_file(file: str, tally: Tally) -> None:
    """Validate every document of ``file``, printing one line per object or problem."""
    name = _display(file)
    try:
        text = _read(file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        typer.echo(f"{name}: cannot read: {reason}", err=True)
        tally.unreadable += 1
        return
    try:
        docs = _documents(text)
    except yaml.YAMLError as exc:
        typer.echo(_yaml_error(name, exc), err=True)
        tally.unreadable += 1
        return
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        result = validate_document(doc)
        where = f"{name}#{index}  {result.kind}/{result.name}"
        if result.ok:
            tally.valid += 1
            typer.echo(f"{typer.style('ok', fg=typer.colors.GREEN)}  {where}")
            continue
        tally.invalid += 1
        for err in result.errors:
            typer.echo(f"{where}  {typer.style(str(err), fg=typer.colors.RED)}")


def validate(
    files: Annotated[list[str], typer.Argument(metavar="FILE", help="YAML files; '-' reads stdin.")],
) -> None:
    tally = Tally()
    for file in files:
        check_file(file, tally)
    total = tally.valid + tally.invalid
    summary = f"{total} object{'s' if total != 1 else ''}: {tally.valid} valid, {tally.invalid} invalid"
    if tally.unreadable:
        summary += f"; {tally.unreadable} unreadable file{'s' if tally.unreadable != 1 else ''}"
    typer.echo(summary)
    raise typer.Exit(tally.exit_code())


def register(app: typer.Typer) -> None:
    """Add ``numaflux validate`` to ``app``."""
    app.command("validate", help=_HELP)(validate)
