"""``advex table1``: reproduce the rows of the paper's Table 1 (Section 6.3)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.experiments.image_eval import DEFAULT_N_IMAGES, image_table1_rows
from advex.experiments.table1 import format_table
from advex.experiments.tabular import tabular_table1_rows
from advex.models.io import atomic_write_json
from advex.vocabulary import TABLE1_IMAGE_DATASETS, TABLE1_TABULAR_DATASETS


def table1(
    datasets: list[str] = typer.Option(
        ["mushroom", "spambase"], "--datasets", help="Data sets: mushroom spambase mnist fashion-mnist (space-separated)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the rows as a JSON list to this file."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache)."),
    seed: int = typer.Option(0, help="Seed of the train/test split and of training."),
    n_images: int = typer.Option(DEFAULT_N_IMAGES, help="Image data sets: test images per mean Gini (IG and DeepSHAP)."),
    retrain: bool = typer.Option(False, "--retrain", help="Image data sets: train afresh instead of using the zoo."),
    feat_trans: bool = typer.Option(False, "--feat-trans", help="Tabular: translate features per Assumption FEAT-TRANS (Section 2)."),
) -> None:
    """Train (tabular) or load (images, from the zoo) the n, l and a models and print Table 1 beside the paper's."""
    known = set(TABLE1_TABULAR_DATASETS) | set(TABLE1_IMAGE_DATASETS)
    unknown = [name for name in datasets if name not in known]
    if unknown:
        raise typer.BadParameter(f"unknown data set(s) {unknown}; choose from {sorted(known)}", param_hint="--datasets")
    rows: list[dict] = []
    with tqdm(datasets, desc="table1", unit="data set") as bar:
        for name in bar:
            bar.set_postfix_str(name)
            if name in TABLE1_TABULAR_DATASETS:
                rows += tabular_table1_rows(
                    name, data_dir=data_dir, seed=seed, feat_trans=feat_trans, progress=bar.set_postfix_str
                )
            else:
                rows += image_table1_rows(
                    name, n_images=n_images, retrain=retrain, data_dir=data_dir, seed=seed, progress=bar.set_postfix_str
                )
    typer.echo(format_table(rows))
    if json_path is not None:
        atomic_write_json(json_path, rows)
        typer.echo(f"wrote {len(rows)} rows to {json_path}")


def register(app: typer.Typer) -> None:
    app.command("table1")(table1)
