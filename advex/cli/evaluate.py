"""``advex evaluate MODEL``: clean and PGD accuracy, and the mean Gini of IG and DeepSHAP maps (Section 6.3)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.errors import AdvexError


def evaluate(
    model: str = typer.Argument(..., help="Zoo id (e.g. mnist/adv_0.3) or the path of a saved model (.safetensors/.json stem)."),
    n_images: int = typer.Option(100, "--n-images", help="Test images for the mean Gini of IG and DeepSHAP."),
    n_robust: int = typer.Option(500, "--n-robust", help="Test images for PGD robust accuracy (0 skips it)."),
    eps: float | None = typer.Option(None, help="PGD l_inf radius in [0,1] pixels (default: the model's eps, else Table 1's)."),
    out: Path = typer.Option(Path("results"), help="Folder for the report with pointwise Gini values (Figure 2's input)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache)."),
    seed: int = typer.Option(0, help="Seed of the evaluated images, the DeepSHAP background and PGD's random start."),
) -> None:
    """Report clean accuracy, PGD robust accuracy and the mean Gini (95% CI) of IG and DeepSHAP maps.

    Writes OUT/<dataset>/<name>.eval.json with the per-image Gini values (Figure 2's input).
    """
    from advex.experiments.image_eval import evaluate_image_model, load_eval_images, resolve_model, write_evaluation

    if n_images < 1 or n_robust < 0:
        raise AdvexError("--n-images must be >= 1 and --n-robust >= 0")
    net, card, model_id = resolve_model(model)
    dataset = card.get("dataset")
    if dataset not in ("mnist", "fashion-mnist", "cifar10"):
        raise AdvexError(f"{model_id} is a {dataset!r} model; `advex evaluate` takes image models (mnist, fashion-mnist, cifar10)")
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    with tqdm(desc=f"evaluate {model_id}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        report, points = evaluate_image_model(
            net, card, images, n_images=n_images, seed=seed, pgd_eps=eps, n_robust=n_robust, progress=bar.set_postfix_str
        )
    path = write_evaluation(Path(out) / dataset / f"{Path(model_id).name}.eval.json", model_id, report, points)
    check = report["ig_completeness"]
    typer.echo(f"model            {model_id}  ({dataset}, mode {report['mode']}, eps {report['eps']:g}, lam {report['lam']:g})")
    typer.echo(f"clean accuracy   {report['accuracy']:.2%} on the {report['accuracy_on']}")
    pgd = report["pgd"]
    typer.echo(f"robust accuracy  {report['robust_accuracy']:.2%} (PGD eps={pgd['eps']:g}, {pgd['steps']} steps of "
               f"{pgd['step_size']:g}, random start, {pgd['n_images']} images)")
    for method in ("IG", "SHAP"):
        typer.echo(f"mean Gini {method:<5}  {report[f'mean_gini_{method}']:.4f} ± {report[f'mean_gini_{method}_ci95']:.4f} "
                   f"(95% CI, {report['n_images']} images)")
    typer.echo(f"IG completeness  median relative gap {check['median_rel_gap']:.2%}, "
               f"{check['share_within_1pct']:.0%} of {check['n_checked']} images within 1%")
    typer.echo(f"DeepSHAP         background: {report['background']}")
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
