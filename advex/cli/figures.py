"""``advex figures``: Figure 2, Figure 3 and the saliency grids of Figure 1 / J.6-J.10, as PNG and HTML."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.errors import AdvexError, DataMissingError, ModelFileError

PARTS = ("fig2", "fig3", "saliency")
IMAGE_SETS = ("mnist", "fashion-mnist")
TABULAR_SETS = ("mushroom", "spambase")
# Figure 3 sweeps for the tabular sets (logistic models, J.1 protocol); they include Table 1's settings.
TABULAR_EPS = (0.02, 0.05, 0.1, 0.2)
TABULAR_LAM = (0.005, 0.01, 0.02, 0.05)


def figures(
    datasets: list[str] = typer.Option(
        list(IMAGE_SETS + TABULAR_SETS), "--datasets", help="Data sets: mnist fashion-mnist mushroom spambase."
    ),
    out: Path = typer.Option(Path("figures"), help="Output folder for the PNG and HTML files."),
    only: list[str] = typer.Option(list(PARTS), "--only", help="Which figures: fig2 fig3 saliency."),
    n_images: int | None = typer.Option(None, "--n-images", help="Image sets: test images per box of Figure 2 (default: as `advex table1`)."),
    examples: int = typer.Option(4, help="Images per saliency grid."),
    results: Path = typer.Option(Path("results"), help="Folder of `advex evaluate` outputs; Figure 2 reuses and adds to them."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache)."),
    seed: int = typer.Option(0, help="Seed of the chosen test images and the DeepSHAP background."),
    offline_html: bool = typer.Option(False, "--offline-html", help="Embed plotly.js in the HTML (works offline, ~4 MB per file)."),
) -> None:
    """Write Figure 2 (pointwise dG boxplots), Figure 3 (accuracy vs mean Gini) and saliency grids (IG and DeepSHAP).

    Image sets use the zoo's models (natural, l1 and adversarial at Table 1's lambda / eps); tabular sets train logistic models (seconds).
    """
    import pandas as pd

    from advex.experiments import figures as fig
    from advex.experiments.image_eval import DEFAULT_N_IMAGES

    unknown = [d for d in datasets if d not in IMAGE_SETS + TABULAR_SETS]
    bad_parts = [p for p in only if p not in PARTS]
    if unknown or bad_parts:
        raise AdvexError(f"unknown data set(s) {unknown} or figure(s) {bad_parts}; use {IMAGE_SETS + TABULAR_SETS} and {PARTS}")
    if examples < 1 or (n_images is not None and n_images < 2):
        raise AdvexError("--examples must be >= 1 and --n-images >= 2")
    n_images = n_images or DEFAULT_N_IMAGES
    include_js = True if offline_html else "cdn"
    written: list[Path] = []
    dG_parts, tradeoff_parts = [], []
    with tqdm(datasets, desc="figures", unit="data set") as bar:
        for dataset in bar:
            bar.set_postfix_str(dataset)
            try:
                if dataset in IMAGE_SETS:
                    dG, tradeoff, grids = _image_parts(dataset, only, n_images, examples, results, data_dir, seed,
                                                       bar.set_postfix_str)
                    for name, (plotly_fig, static) in grids.items():
                        written += fig.write_figure(plotly_fig, static, out, name, include_js)
                else:
                    dG, tradeoff = _tabular_parts(dataset, only, data_dir, seed, bar.set_postfix_str)
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


def _image_parts(dataset, only, n_images, examples, results, data_dir, seed, progress):
    """Figure 2 frame, Figure 3 frame and saliency grids (name -> (plotly, matplotlib)) for an image set."""
    from advex.experiments import figures as fig
    from advex.experiments.image_eval import (
        MODES,
        TABLE1_SETTINGS,
        cached_table1_pointwise,
        load_eval_images,
    )
    from advex.zoo import ZooEntry, list_models, load_zoo_model

    settings = TABLE1_SETTINGS[dataset]
    dG = tradeoff = None
    grids = {}
    if "fig3" in only:
        tradeoff = fig.zoo_tradeoff_frame(list_models(dataset, include_user=False))
    if "fig2" not in only and "saliency" not in only:
        return dG, tradeoff, grids
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    if "fig2" in only:
        points = cached_table1_pointwise(dataset, images, n_images, seed, results, progress)
        dG = fig.dG_frame(dataset, {key: p.gini for key, p in points.items()}, settings["eps"], settings["lam"])
    if "saliency" in only:
        models = {}
        for key, mode in MODES.items():
            name = ZooEntry.for_mode(mode, settings["eps"], settings["lam"]).name
            title = {"n": "natural", "l": f"l1 (lam={settings['lam']:g})", "a": f"adversarial (eps={settings['eps']:g})"}[key]
            models[title] = load_zoo_model(dataset, name)[0]
        chosen = fig.pick_confident_examples(models, images.X, images.y, examples, seed, exclude=images.reserved)
        for method in ("IG", "SHAP"):
            progress(f"{dataset}: {method} saliency grid")
            grid = fig.saliency_examples(models, images.X, images.y, chosen, method, images.background, dataset)
            grids[f"saliency_{dataset}_{method}"] = (fig.saliency_plotly(grid), fig.saliency_matplotlib(grid))
    return dG, tradeoff, grids


def _tabular_parts(dataset, only, data_dir, seed, progress):
    """Figure 2 frame (IG, Table 1's eps / lambda) and Figure 3 frame (eps / lambda sweeps) for a tabular set."""
    from advex.experiments import figures as fig
    from advex.experiments.tabular import load_tabular_or_synthetic, run_tabular_comparison
    from advex.vocabulary import paper_settings

    settings = paper_settings(dataset)
    dG = tradeoff = None
    if "fig2" in only:
        progress(f"{dataset}: n, l, a models")
        data = load_tabular_or_synthetic(dataset, data_dir=data_dir, seed=seed)
        comparison = run_tabular_comparison(data, settings.eps, settings.lam, seed=seed)
        ginis = {key: {"IG": result.gini} for key, result in comparison.results.items()}
        dG = fig.dG_frame(dataset, ginis, settings.eps, settings.lam)
    if "fig3" in only:
        tradeoff = fig.tabular_tradeoff_frame(dataset, TABULAR_EPS, TABULAR_LAM, data_dir, seed, progress)
    return dG, tradeoff


def register(app: typer.Typer) -> None:
    app.command("figures")(figures)
