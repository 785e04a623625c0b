"""The `ivl` command. Heavy imports (torch, chromadb, gradio) happen inside each verb, so each verb pays only
for what it uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from chatbot.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Cited answers about intravenous leiomyomatosis (IVL).", no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Cited answers about intravenous leiomyomatosis (IVL), from a GARD page and a 2026 case report."""


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        _fail(str(err))


def _fail(message: str, code: int = 1):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: the corpus folder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Chunk and embed documents into the index; unchanged chunks are not embedded again."""
    from ingest.documents import IngestError
    from ingest.pipeline import run_ingest

    settings = _settings()
    try:
        report = run_ingest(settings, paths or None, progress=not as_json and sys.stderr.isatty())
    except IngestError as err:
        _fail(str(err))
    if as_json:
        typer.echo(json.dumps(report.json()))
        return
    if report.rebuilt:
        typer.echo(f"Rebuilt: {report.rebuilt}")
    for path, source_id in report.duplicates.items():
        typer.echo(f"Skipped {path}: it repeats {source_id}")
    typer.echo(
        f"{report.documents} documents, {report.chunks} chunks: {report.added} added, {report.deleted} deleted, "
        f"{report.skipped} unchanged; {report.embedded} texts embedded in {report.seconds:.1f} s"
    )
