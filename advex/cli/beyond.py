"""``advex beyond``: the paper's effect for every explainer and sparseness measure, and precision at k against eps."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.attribution.methods import METHODS
from advex.cli.options import DATA_DIR, writable_dir, writable_file
from advex.cli.results import finish
from advex.experiments.beyond import BEYOND_DATASETS, GROUND_TRUTH_EPS
from advex.metrics.measures import MEASURE_NAMES


def beyond(
    datasets: list[str] = typer.Option(list(BEYOND_DATASETS), "--datasets", help="Data sets (space-separated)."),
    methods: list[str] = typer.Option(list(METHODS), "--methods", help=f"Explainers: {' '.join(METHODS)}."),
    measures: list[str] = typer.Option(list(MEASURE_NAMES), "--measures", help=f"Sparseness measures: {' '.join(MEASURE_NAMES)}."),
    n_images: int = typer.Option(100, "--n-images", help="Seeded test images per image data set (paired across models)."),
    ground_truth_eps: list[float] = typer.Option(list(GROUND_TRUTH_EPS), "--ground-truth-eps",
                                                 help="eps of the a-models whose precision at k is measured on the "
                                                      "synthetic set (with synthetic among the data sets)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write all rows as a JSON list to this file."),
    work_dir: Path = typer.Option(Path("results/beyond"), "--work-dir",
                                  help="Per-example results, kept so an interrupted run resumes."),
    data_dir: Path | None = DATA_DIR,
    seed: int = typer.Option(0, help="Seed of the test images, the tabular splits and training, and the explainers' draws."),
) -> None:
    """For each data set, explainer and measure: the n, l, a means and the gain of l and a over n (95% CI), a vs l.

    Image models come from the zoo (Table 1's eps and lambda); tabular models are trained now with J.1's
    protocol. With the synthetic set, also each explainer's precision at k (k = the strong features)
    for n, l and a over eps. Without the image data on disk the zoo's 200-image test sample is used.
    """
    from advex.experiments.beyond import (
        BeyondGrid,
        describe_settings,
        format_beyond,
        format_ground_truth,
        ground_truth,
        run_beyond,
        summary,
        time_spent,
    )
    from advex.vocabulary import SYNTHETIC

    grid = BeyondGrid(tuple(dict.fromkeys(datasets)), tuple(dict.fromkeys(methods)), tuple(dict.fromkeys(measures)),
                      n_images, seed, tuple(ground_truth_eps))
    json_path = writable_file(json_path, "--json")
    work_dir = writable_dir(work_dir, "--work-dir")
    with tqdm(total=grid.attribution_cells(), desc="beyond", unit="cell") as bar:
        def step(message: str) -> None:
            bar.set_postfix_str(message)
            bar.update()

        rows = run_beyond(grid, data_dir=data_dir, work_dir=work_dir, progress=step)
        if SYNTHETIC in grid.datasets:
            rows += ground_truth(grid.methods, grid.ground_truth_eps, seed, work_dir=work_dir, progress=step)
    typer.echo(format_beyond(rows))
    truth = format_ground_truth(rows)
    if truth:
        typer.echo("\n" + truth)
    typer.echo("\n" + "\n".join(summary(rows)))
    typer.echo("settings: " + "; ".join(describe_settings()[method] for method in grid.methods))
    finish(rows, time_spent(rows), json_path)


def register(app: typer.Typer) -> None:
    app.command("beyond")(beyond)
