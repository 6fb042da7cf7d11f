"""``advex sweep GRID.toml``: train and evaluate every trial of a grid on Ray (local or a cluster), resumably."""

from __future__ import annotations

from pathlib import Path

import typer

from advex.cli.options import DATA_DIR, writable_dir
from advex.errors import AdvexError

DEFAULT_RESULTS = Path("sweep_results")


def sweep(
    grid: Path = typer.Argument(..., help="Grid file (TOML), e.g. sweeps/tabular_small.toml."),
    address: str | None = typer.Option(None, help="Join this Ray cluster (`ray start --head` prints it; 'auto' finds "
                                                  "a local one). Default: start a local Ray."),
    results: Path | None = typer.Option(None, help="Results folder (default: sweep_results/<grid name>)."),
    num_cpus: int | None = typer.Option(None, help="CPUs of the local Ray (default: all). Not with --address."),
    device: str | None = typer.Option(None, help="Image trials on cpu or cuda (default: GPUs when the cluster has them)."),
    fresh: bool = typer.Option(False, help="Rerun trials already finished in the results folder."),
    dry_run: bool = typer.Option(False, help="List the trials and exit."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Run a grid of trainings: one row per trial in RESULTS/results, models in RESULTS/models; a re-run resumes."""
    from advex.sweeps import load_grid, run_sweep

    spec = load_grid(grid)
    if address and num_cpus is not None:
        raise AdvexError("--num-cpus sizes the local Ray; a cluster's nodes set theirs with `ray start --num-cpus`")
    results = writable_dir(results or DEFAULT_RESULTS / grid.stem, "--results")
    if dry_run:
        for trial in spec.trials:
            typer.echo(f"{trial.id:<36}{trial.setting.describe():<34}seed {trial.seed}  {trial.protocol or 'J.1 tabular'}")
        typer.echo(f"{len(spec.trials)} trials")
        return
    typer.echo(f"{len(spec.trials)} trials of {grid} -> {results}")
    try:
        summary = run_sweep(spec.trials, results, address=address, num_cpus=num_cpus, resources=spec.resources,
                            device=device, data_dir=data_dir, fresh=fresh)
    except KeyboardInterrupt:
        typer.secho(f"interrupted: finished trials are kept in {results}; run the same command again to resume",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    typer.echo(summary.describe())
    typer.echo(f"results in {results}; read them with advex.sweeps.read_results({str(results)!r})")
    if summary.failed:
        typer.secho(f"failed: {', '.join(summary.failed)} (errors in their rows); a re-run retries them",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``advex sweep`` to ``app``."""
    app.command("sweep")(sweep)
