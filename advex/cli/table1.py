"""``advex table1``: reproduce the rows of the paper's Table 1 (Section 6.3)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.cli.options import DATA_DIR, OUTPUT, REFERENCE, writable_file
from advex.errors import AdvexError
from advex.experiments.image_eval import DEFAULT_N_IMAGES, image_table1_rows
from advex.experiments.table1 import format_table
from advex.experiments.tabular import tabular_table1_rows
from advex.experiments.tabular_protocols import PROTOCOL_NAMES
from advex.models.io import atomic_write_json
from advex.vocabulary import (
    OUTPUTS,
    REFERENCES,
    TABLE1_IMAGE_DATASETS,
    TABLE1_TABULAR_DATASETS,
    TABULAR_REFERENCES,
    check_choice,
)

IMAGE_PROTOCOL = "paper"  # image rows use the zoo's models, trained per J.1


def table1(
    datasets: list[str] = typer.Option(
        ["mushroom", "spambase"], "--datasets", help="Data sets: mushroom spambase mnist fashion-mnist (space-separated)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the rows as a JSON list to this file."),
    data_dir: Path | None = DATA_DIR,
    seed: int = typer.Option(0, help="Seed of the train/test split and of training."),
    protocol: str = typer.Option(
        "paper", "--protocol",
        help=f"Tabular data sets: {' or '.join(PROTOCOL_NAMES)}. paper = Appendix J.1 as written; authors = the authors' "
             "public code (20/20 split, FTRL, N(0, 0.05) init, 2 clean epochs, 20-step IG, Gini of |A| + 1e-7 on 1000 rows).",
    ),
    reference: str = REFERENCE,
    output: str = OUTPUT,
    n_images: int = typer.Option(DEFAULT_N_IMAGES, help="Image data sets: test images per mean Gini (IG and DeepSHAP)."),
    retrain: bool = typer.Option(False, "--retrain", help="Image data sets: train afresh instead of using the zoo."),
    feat_trans: bool = typer.Option(False, "--feat-trans", help="Tabular: translate features per Assumption FEAT-TRANS (Section 2)."),
) -> None:
    """Train (tabular) or load (images, from the zoo) the n, l and a models and print Table 1 beside the paper's.

    --reference and --output choose what IG and DeepSHAP explain. Tabular rows take the references
    black (the all-zero row), mean and train-sample (blur and uniform noise are image references) and
    either output; for these 1-layer models the Gini hardly depends on the output (with the all-zero
    row it does not at all: IG of the probability is IG of the logit times one factor per example).
    Every row records its protocol, reference and output.
    """
    known = set(TABLE1_TABULAR_DATASETS) | set(TABLE1_IMAGE_DATASETS)
    unknown = [name for name in datasets if name not in known]
    if unknown:
        raise typer.BadParameter(f"unknown data set(s) {unknown}; choose from {sorted(known)}", param_hint="--datasets")
    check_choice(protocol, PROTOCOL_NAMES, "--protocol")
    check_choice(reference, REFERENCES, "--reference")
    check_choice(output, OUTPUTS, "--output")
    tabular = [name for name in datasets if name in TABLE1_TABULAR_DATASETS]
    if tabular and reference not in TABULAR_REFERENCES:
        raise AdvexError(f"--reference {reference} is for images; tabular data sets ({', '.join(tabular)}) "
                         f"take {', '.join(TABULAR_REFERENCES)}")
    json_path = writable_file(json_path, "--json")
    rows: list[dict] = []
    with tqdm(datasets, desc="table1", unit="data set") as bar:
        for name in bar:
            bar.set_postfix_str(name)
            if name in TABLE1_TABULAR_DATASETS:
                rows += tabular_table1_rows(name, data_dir=data_dir, seed=seed, feat_trans=feat_trans, progress=bar.set_postfix_str,
                                            protocol=protocol, reference=reference, output=output)
            else:
                image_rows = image_table1_rows(name, n_images=n_images, retrain=retrain, data_dir=data_dir, seed=seed,
                                               progress=bar.set_postfix_str, reference=reference, output=output)
                rows += [{"protocol": IMAGE_PROTOCOL, "reference": reference, "output": output, **row} for row in image_rows]
    typer.echo(format_table(rows))
    if json_path is not None:
        atomic_write_json(json_path, rows)
        typer.echo(f"wrote {len(rows)} rows to {json_path}")


def register(app: typer.Typer) -> None:
    app.command("table1")(table1)
