"""``advex evaluate MODEL``: clean and robust accuracy, and the mean Gini of each method's maps (Section 6.3)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.cli.options import DATA_DIR, OUTPUT, REFERENCE, writable_dir
from advex.errors import AdvexError
from advex.vocabulary import IMAGE_DATASETS, OUTPUTS, REFERENCES, check_choice


def evaluate(
    model: str = typer.Argument(..., help="Zoo id (e.g. mnist/adv_0.3), your model's id, or a saved model's file stem."),
    n_images: int = typer.Option(100, "--n-images", help="Test images for the mean Gini of each method."),
    n_robust: int = typer.Option(500, "--n-robust", help="Test images for robust accuracy (0 skips it)."),
    attack: list[str] = typer.Option(["pgd"], "--attack", help="pgd (the paper's schedule) and/or autoattack (standard)."),
    reference: str = REFERENCE,
    output: str = OUTPUT,
    out: Path = typer.Option(Path("results"), help="Folder for the report with per-image Ginis (Figure 2's input)."),
    data_dir: Path | None = DATA_DIR,
    seed: int = typer.Option(0, help="Seed of the evaluated images, the references and the attacks' random starts."),
) -> None:
    """Report clean accuracy, robust accuracy at the paper's eps (and the model's), and mean Ginis with 95% CIs.

    Writes OUT/<dataset>/<name>.eval.json with the per-image Gini values (Figure 2's input).
    """
    from advex.evaluation.attributions import AttributionPlan
    from advex.evaluation.report import EvaluationPlan, evaluate_model, write_evaluation
    from advex.zoo.catalogue import load_eval_images, resolve_model

    if n_images < 1 or n_robust < 0 or seed < 0:
        raise AdvexError("--n-images must be >= 1, --n-robust >= 0 and --seed >= 0")
    check_choice(reference, REFERENCES, "--reference")
    check_choice(output, OUTPUTS, "--output")
    plan = EvaluationPlan(gini_images=n_images, robust_images=n_robust, attacks=tuple(dict.fromkeys(attack)),
                          attributions=AttributionPlan(reference=reference, output=output, seed=seed), seed=seed)
    out = writable_dir(out, "--out")
    net, card, model_id = resolve_model(model)
    dataset = card.get("dataset")
    if dataset not in IMAGE_DATASETS:
        raise AdvexError(f"{model_id} is a {dataset!r} model; `advex evaluate` takes image models ({', '.join(IMAGE_DATASETS)})")
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    with tqdm(desc=f"evaluate {model_id}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        evaluation = evaluate_model(net, images, float(card.get("eps") or 0.0), plan, progress=bar.set_postfix_str)
    path = write_evaluation(out / dataset / f"{Path(model_id).name}.eval.json", model_id, evaluation)
    metrics = evaluation.metrics
    typer.echo(f"model            {model_id}  ({dataset}, mode {card.get('mode')}, eps {float(card.get('eps') or 0):g}, "
               f"lam {float(card.get('lam') or 0):g})")
    typer.echo(f"clean accuracy   {metrics['clean_accuracy']:.2%} on the {metrics['accuracy_on']}")
    for entry in metrics["robust_accuracy"]:
        typer.echo(f"robust accuracy  {entry['accuracy']:.2%} under {entry['attack']} at eps={entry['eps']:g} "
                   f"({entry['n_images']} images)")
    gini = metrics["gini"]
    for method in plan.attributions.methods:
        typer.echo(f"mean Gini {method:<9} {gini[method]:.4f} ± {gini[method + '_ci95']:.4f} "
                   f"(95% CI, {gini['n_images']} images; reference {reference}, output {output})")
    check = gini["ig_completeness"]
    typer.echo(f"IG completeness  median relative gap {check['median_rel_gap']:.2%}, "
               f"{check['share_within_1pct']:.0%} of {check['n_checked']} images within 1%")
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
