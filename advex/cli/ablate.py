"""``advex ablate``: dG of the a- and l-models for every attribution reference and output (does the conclusion hold?)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.cli.options import DATA_DIR, writable_file
from advex.cli.results import finish
from advex.vocabulary import IG_TRAIN_SAMPLE_SIZE, OUTPUTS, REFERENCES, TABLE1_IMAGE_DATASETS, TRAIN_SAMPLE_SIZE


def ablate(
    datasets: list[str] = typer.Option(list(TABLE1_IMAGE_DATASETS), "--datasets", help="Image data sets (space-separated)."),
    methods: list[str] = typer.Option(["ig", "deepshap"], "--methods", help="Attribution methods: ig deepshap."),
    references: list[str] = typer.Option(list(REFERENCES), "--references", help=f"References: {' '.join(REFERENCES)}."),
    outputs: list[str] = typer.Option(list(OUTPUTS), "--outputs", help=f"Outputs explained: {' '.join(OUTPUTS)}."),
    n_images: int = typer.Option(1000, "--n-images", help="Seeded test images per cell (paired across the models)."),
    whole_test_set: bool = typer.Option(False, "--whole-test-set", help="Use every test image (overrides --n-images)."),
    k: int = typer.Option(TRAIN_SAMPLE_SIZE, "--k", help="Training images of DeepSHAP's train-sample reference."),
    ig_k: int = typer.Option(IG_TRAIN_SAMPLE_SIZE, "--ig-k",
                             help="Training images of IG's train-sample reference (each one is a whole IG path)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the rows as a JSON list to this file."),
    work_dir: Path = typer.Option(Path("results/ablation"), "--work-dir",
                                  help="Per-image results, kept so an interrupted run resumes."),
    data_dir: Path | None = DATA_DIR,
    seed: int = typer.Option(0, help="Seed of the test images and of the train-sample / uniform references."),
) -> None:
    """For each data set, method, reference and output: mean Gini of the n, l, a models and dG of l and a (95% CI).

    Models are the zoo's Table 1 models (MNIST a: eps 0.3, Fashion-MNIST a: eps 0.1, l: lambda 0.01).
    Without the data on disk the zoo's 200-image test sample is used.
    """
    from advex.experiments.ablation import AblationGrid, format_ablation, run_ablation, time_spent

    grid = AblationGrid(tuple(dict.fromkeys(datasets)), tuple(dict.fromkeys(methods)), tuple(dict.fromkeys(references)),
                        tuple(dict.fromkeys(outputs)), None if whole_test_set else n_images, k, ig_k, seed)
    json_path = writable_file(json_path, "--json")
    with tqdm(total=grid.cells(), desc="ablate", unit="cell") as bar:
        def step(message: str) -> None:
            bar.set_postfix_str(message)
            bar.update()

        rows = run_ablation(grid, data_dir=data_dir, work_dir=work_dir, progress=step)
    typer.echo(format_ablation(rows))
    finish(rows, time_spent(rows), json_path)


def register(app: typer.Typer) -> None:
    app.command("ablate")(ablate)
