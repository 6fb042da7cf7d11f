"""Options and checks shared by the ``advex`` subcommands: data folder, attribution choices, output files."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from advex.errors import AdvexError
from advex.vocabulary import OUTPUTS, PAPER_OUTPUT, PAPER_REFERENCE, REFERENCES

DATA_DIR = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache).")
REFERENCE = typer.Option(PAPER_REFERENCE, "--reference",
                         help=f"Attribution reference: {', '.join(REFERENCES)} (the paper's: {PAPER_REFERENCE}).")
OUTPUT = typer.Option(PAPER_OUTPUT, "--output", help=f"Output explained: {', '.join(OUTPUTS)} (the paper's: {PAPER_OUTPUT}).")


def writable_file(path: Path | None, option: str) -> Path | None:
    """``path`` if a file can be written there (checked before any work starts), else one clear error."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_dir():
        raise AdvexError(f"{option} {path} is a directory; give a file name, e.g. {path / 'out.json'}")
    folder = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise AdvexError(f"{option} {path}: cannot write in {existing}; choose a writable folder")
    return path


def writable_dir(path: Path, option: str) -> Path:
    """``path`` if it is (or can become) a writable folder, else one clear error."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise AdvexError(f"{option} {path} is a file; give a folder")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK):
        raise AdvexError(f"{option} {path}: cannot write in {existing}; choose a writable folder")
    return path
