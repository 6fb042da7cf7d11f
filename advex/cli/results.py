"""The end of a resumable experiment command: the seconds it computed, then its rows written as JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from advex.models.io import atomic_write_json


def finish(rows: list[dict], spent: dict[str, float], json_path: Path | None) -> None:
    """Print the seconds computed this run (cells read back count 0) and write ``rows`` to ``json_path`` atomically."""
    if any(spent.values()):
        typer.echo("seconds computed this run: " + ", ".join(f"{key} {value:.0f}" for key, value in spent.items()))
    if json_path is not None:
        atomic_write_json(json_path, rows)
        typer.echo(f"wrote {len(rows)} rows to {json_path}")
