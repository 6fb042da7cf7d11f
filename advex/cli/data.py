"""``advex data``: list, fetch and verify the data sets of the paper (Appendix J.1)."""

from __future__ import annotations

from pathlib import Path

import typer

from advex.data.fetch import fetch as fetch_dataset
from advex.data.fetch import verify as verify_dataset
from advex.data.paths import DATA_ENV, data_search_dirs, locate
from advex.data.registry import DATASETS, get_spec
from advex.errors import DataFormatError, DataMissingError

data_app = typer.Typer(
    help="List, download and check the data sets (MNIST, Fashion-MNIST, CIFAR-10, Mushroom, Spambase).",
    no_args_is_help=True,
)

DATA_DIR_OPTION = typer.Option(
    None, "--data-dir", help=f"Folder holding <name>/ sub-folders; searched before ${DATA_ENV} and the cache."
)


@data_app.command("list")
def list_command(data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Show each data set: where its files were found, or how to get them."""
    typer.echo("searched, in order: " + ", ".join(str(root) for root in data_search_dirs(data_dir)))
    width = max(len(name) for name in DATASETS)
    for name, spec in DATASETS.items():
        try:
            folder = next(iter(locate(name, data_dir).values())).parent
            status = typer.style("found", fg=typer.colors.GREEN) + f"    {folder}"
        except DataMissingError:
            status = typer.style("missing", fg=typer.colors.YELLOW) + f"  run `advex data fetch {name}`"
        typer.echo(f"{name:<{width}}  {status}")
        typer.echo(f"{'':<{width}}  {spec.description}")


@data_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help=f"Data set: {', '.join(DATASETS)}."),
    dest: Path | None = typer.Option(
        None, "--dest", help="Root folder to download into (default: the per-user cache, ~/.cache/advex/data)."
    ),
) -> None:
    """Download a data set from its canonical source, check it, and store it."""
    spec = get_spec(name)
    folder = fetch_dataset(name, dest=dest, progress=True)
    typer.echo(f"{name}: ready in {folder}")
    root = folder.parent
    if root not in data_search_dirs():
        typer.echo(f"advex does not search {root} by default: pass --data-dir {root} or set {DATA_ENV}={root}")
    typer.echo(f"credit: {spec.credit}")


@data_app.command("verify")
def verify_command(
    name: str | None = typer.Argument(None, help="Data set to check (default: every data set found)."),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Check data files: SHA-256 where recorded, then parse them and compare shapes, rows and labels."""
    names = [get_spec(name).name] if name else list(DATASETS)
    failed, checked = [], 0
    for current in names:
        try:
            results = verify_dataset(current, data_dir)
        except DataMissingError:
            if name:
                raise
            typer.echo(f"{current}: missing (run `advex data fetch {current}`)")
            continue
        for result in results:
            checked += 1
            mark = typer.style("ok", fg=typer.colors.GREEN) if result.ok else typer.style("FAIL", fg=typer.colors.RED)
            typer.echo(f"{current}/{result.path.name}: {mark}  {result.detail}")
            if not result.ok:
                failed.append(f"{current}/{result.path.name}")
    if failed:
        raise DataFormatError(
            f"{len(failed)} of {checked} data files failed their check ({', '.join(failed)}); "
            "delete them and run `advex data fetch NAME` again"
        )
    typer.echo(f"{checked} files checked, all ok")


def register(app: typer.Typer) -> None:
    """Add the ``advex data`` command group to ``app``."""
    app.add_typer(data_app, name="data")
