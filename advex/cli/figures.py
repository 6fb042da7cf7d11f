"""``advex figures``: Figure 2, Figure 3 and the saliency grids of Figure 1 / J.6-J.10, as PNG and HTML."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.cli.options import DATA_DIR, OUTPUT, REFERENCE, writable_dir
from advex.errors import AdvexError, DataMissingError, ModelFileError
from advex.experiments.figures import PARTS
from advex.vocabulary import OUTPUTS, REFERENCES, TABLE1_IMAGE_DATASETS, TABLE1_TABULAR_DATASETS, check_choice

IMAGE_SETS = TABLE1_IMAGE_DATASETS
TABULAR_SETS = TABLE1_TABULAR_DATASETS


def figures(
    datasets: list[str] = typer.Option(
        list(IMAGE_SETS + TABULAR_SETS), "--datasets", help="Data sets: mnist fashion-mnist mushroom spambase."
    ),
    out: Path = typer.Option(Path("figures"), help="Output folder for the PNG and HTML files."),
    only: list[str] = typer.Option(list(PARTS), "--only", help="Which figures: fig2 fig3 saliency."),
    n_images: int | None = typer.Option(None, "--n-images", help="Image sets: test images per box of Figure 2 (default: 1000)."),
    examples: int = typer.Option(4, help="Images per saliency grid."),
    results: Path = typer.Option(Path("results"), help="Folder of `advex evaluate` outputs; Figure 2 reuses and adds to them."),
    reference: str = REFERENCE,
    output: str = OUTPUT,
    data_dir: Path | None = DATA_DIR,
    seed: int = typer.Option(0, help="Seed of the chosen test images and of the references."),
    offline_html: bool = typer.Option(False, "--offline-html", help="Embed plotly.js in the HTML (works offline, ~4 MB per file)."),
) -> None:
    """Write Figure 2 (pointwise dG boxplots), Figure 3 (accuracy vs mean Gini) and saliency grids (IG and DeepSHAP).

    Image sets use the zoo's models (natural, l1 and adversarial at Table 1's lambda / eps); tabular sets train logistic models (seconds).
    """
    import pandas as pd

    from advex.evaluation.attributions import AttributionPlan
    from advex.experiments import figures as fig
    from advex.experiments.image_eval import DEFAULT_N_IMAGES

    unknown = [d for d in datasets if d not in IMAGE_SETS + TABULAR_SETS]
    bad_parts = [p for p in only if p not in PARTS]
    if unknown or bad_parts:
        raise AdvexError(f"unknown data set(s) {unknown} or figure(s) {bad_parts}; use {IMAGE_SETS + TABULAR_SETS} and {PARTS}")
    if examples < 1 or (n_images is not None and n_images < 2):
        raise AdvexError("--examples must be >= 1 and --n-images >= 2")
    n_images = n_images or DEFAULT_N_IMAGES
    check_choice(reference, REFERENCES, "--reference")
    check_choice(output, OUTPUTS, "--output")
    plan = AttributionPlan(reference=reference, output=output, seed=seed)
    out = writable_dir(out, "--out")
    include_js = True if offline_html else "cdn"
    written: list[Path] = []
    dG_parts, tradeoff_parts = [], []
    with tqdm(datasets, desc="figures", unit="data set") as bar:
        for dataset in bar:
            bar.set_postfix_str(dataset)
            try:
                if dataset in IMAGE_SETS:
                    dG, tradeoff, grids = fig.image_figure_parts(dataset, only, n_images, examples, results, plan,
                                                                 data_dir, seed, bar.set_postfix_str)
                    for name, (plotly_fig, static) in grids.items():
                        written += fig.write_figure(plotly_fig, static, out, name, include_js)
                else:
                    dG, tradeoff = fig.tabular_figure_parts(dataset, only, data_dir, seed, bar.set_postfix_str)
            except (DataMissingError, ModelFileError) as err:
                tqdm.write(f"skipped {dataset}: {err}")
                continue
            dG_parts.append(dG)
            tradeoff_parts.append(tradeoff)
    if "fig2" in only and any(p is not None for p in dG_parts):
        frame = pd.concat([p for p in dG_parts if p is not None], ignore_index=True)
        written += fig.write_figure(fig.figure2_plotly(frame), fig.figure2_matplotlib(frame), out, "figure2", include_js)
    if "fig3" in only:
        frames = [p for p in tradeoff_parts if p is not None and not p.empty]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if frame.empty:
            typer.echo("Figure 3 skipped: no model card with accuracy and mean Gini (rebuild the zoo: `advex zoo build`)")
        else:
            written += fig.write_figure(fig.figure3_plotly(frame), fig.figure3_matplotlib(frame), out, "figure3", include_js)
    for path in written:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("figures")(figures)
