"""``advex zoo``: list the models (the zoo's and the user's), rebuild the zoo, refresh the cards' metrics."""

from __future__ import annotations

from pathlib import Path

import typer

from advex.cli.options import DATA_DIR, OUTPUT, REFERENCE
from advex.errors import AdvexError
from advex.vocabulary import OUTPUTS, REFERENCES, check_choice, paper_settings

zoo_app = typer.Typer(help="The pretrained model zoo (pretrained/): list it, rebuild it, refresh its cards.",
                      no_args_is_help=True)


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def zoo_rows(cards: list[dict]) -> list[dict]:
    """One printable row per card: clean, PGD and AutoAttack accuracy at the paper's eps, mean Ginis, time, device."""
    from advex.evaluation.report import card_mean_gini, card_robust_accuracy

    rows = []
    for card in cards:
        dataset = card.get("dataset")
        eps = paper_settings(dataset).robust_eps if dataset in ("mnist", "fashion-mnist", "cifar10") else None
        rows.append({
            "dataset": dataset, "name": card.get("name"), "source": card.get("source", "zoo"),
            "clean": card.get("clean_accuracy"), "eps": eps,
            "pgd": card_robust_accuracy(card, eps, "pgd") if eps else None,
            "autoattack": card_robust_accuracy(card, eps, "autoattack") if eps else None,
            "gini_ig": card_mean_gini(card, "ig"), "gini_shap": card_mean_gini(card, "deepshap"),
            "reference": (card.get("gini") or {}).get("reference", "-") if isinstance(card.get("gini"), dict) else "-",
            "train_s": card.get("train_time_s"), "device": card.get("device"),
        })
    return rows


@zoo_app.command("list")
def list_command(
    dataset: str | None = typer.Option(None, help="Only this data set (mnist, fashion-mnist)."),
    user: bool = typer.Option(True, help="Also list models trained by you (dashboard, `advex train`)."),
) -> None:
    """Every model with clean / PGD / AutoAttack accuracy, mean Gini of IG and DeepSHAP, training time and device."""
    from advex.zoo.catalogue import describe_zoo_size, list_models, zoo_dir

    problems: list[str] = []
    cards = list_models(dataset, include_user=user, problems=problems)
    if not cards:
        typer.echo(f"no models found in {zoo_dir()}; rebuild the zoo with `advex zoo build`")
    else:
        typer.echo(f"{'dataset':<14}{'model':<11}{'source':<7}{'clean':>8}{'eps':>6}{'PGD':>8}{'AA':>8}"
                   f"{'Gini IG':>9}{'Gini SH':>9}  {'ref':<13}{'train s':>8}  device")
        for row in zoo_rows(cards):
            typer.echo(
                f"{row['dataset']:<14}{row['name']:<11}{row['source']:<7}{_fmt(row['clean']):>8}"
                f"{_fmt(row['eps'], 2) if row['eps'] else '-':>6}{_fmt(row['pgd']):>8}{_fmt(row['autoattack']):>8}"
                f"{_fmt(row['gini_ig']):>9}{_fmt(row['gini_shap']):>9}  {row['reference']:<13}"
                f"{_fmt(row['train_s'], 0):>8}  {row['device'] or '-'}"
            )
        typer.echo(f"zoo folder {zoo_dir()}: {describe_zoo_size() / 2**20:.1f} MiB")
    for problem in problems:
        typer.secho(f"skipped: {problem}", fg=typer.colors.YELLOW, err=True)


@zoo_app.command("build")
def build_command(
    dataset: list[str] = typer.Option(["mnist", "fashion-mnist"], "--dataset", help="Data set(s) to rebuild."),
    name: list[str] = typer.Option([], "--name", help="Only these models (e.g. natural, l1_0.01, adv_0.3)."),
    protocol: str = typer.Option("fast", help="Protocol of natural and l1 models: fast or paper (App. J.1)."),
    adv_protocol: str | None = typer.Option(None, help="Protocol of adversarial models (default: --protocol)."),
    steps: int | None = typer.Option(None, help="Override every model's number of training steps."),
    time_budget: float | None = typer.Option(None, help="Seconds after which training stops early (cards say so)."),
    gini_images: int = typer.Option(1000, help="Test images for the mean Gini of IG / DeepSHAP on each card."),
    eval_images: int | None = typer.Option(None, help="Robust accuracy on only this many test images (dry runs)."),
    seed: int = typer.Option(0, help="Seed of the split, initialization, batches and attack noise."),
    device: str | None = typer.Option(None, help="cuda or cpu (default: cuda when the Ray cluster has GPUs)."),
    out: Path | None = typer.Option(None, help="Output folder (default: the zoo folder)."),
    address: str | None = typer.Option(None, help="Build on this Ray cluster (default: a local Ray)."),
    num_cpus: int | None = typer.Option(None, help="CPUs of the local Ray (default: all)."),
    fresh: bool = typer.Option(False, help="Retrain models that a previous (killed) build already finished."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Retrain the zoo as a sweep over its grid (sweeps/zoo.toml): train, evaluate (clean, PGD, Gini), store float16 + card."""
    from advex.evaluation.report import EvaluationPlan
    from advex.sweeps.zoo import build_zoo
    from advex.zoo.catalogue import zoo_dir

    if steps is not None and steps < 1:
        raise AdvexError("--steps must be >= 1")
    if time_budget is not None and time_budget <= 0:
        raise AdvexError("--time-budget must be > 0 seconds")
    if address and num_cpus is not None:
        raise AdvexError("--num-cpus sizes the local Ray; a cluster's nodes set theirs with `ray start --num-cpus`")
    plan = EvaluationPlan(gini_images=gini_images, robust_images=eval_images, seed=seed)
    try:
        build_zoo(tuple(dataset), out_dir=out, names=tuple(name) or None, protocol=protocol, adv_protocol=adv_protocol,
                  seed=seed, steps=steps, device=device, data_dir=data_dir, time_budget_s=time_budget, plan=plan,
                  log=typer.echo, address=address, num_cpus=num_cpus, fresh=fresh, progress=True)
    except KeyboardInterrupt:
        typer.secho("interrupted: finished models are kept; run the same command again to resume",
                    fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None
    typer.echo(f"zoo written to {out or zoo_dir()}")


@zoo_app.command("refresh")
def refresh_command(
    dataset: list[str] = typer.Option(["mnist", "fashion-mnist"], "--dataset", help="Data set(s) to refresh."),
    name: list[str] = typer.Option([], "--name", help="Only these models (e.g. natural, adv_0.3)."),
    gini_images: int = typer.Option(1000, help="Test images for the mean Gini (0 skips the Gini)."),
    attack: list[str] = typer.Option([], "--attack", help="Also measure robust accuracy: pgd and/or autoattack."),
    robust_images: int = typer.Option(1000, help="First test images for robust accuracy."),
    reference: str = REFERENCE,
    output: str = OUTPUT,
    seed: int = typer.Option(0, help="Seed of the evaluated images, references and attacks."),
    device: str | None = typer.Option(None, help="cuda or cpu (default: cuda when available)."),
    out: Path | None = typer.Option(None, help="Zoo folder to refresh (default: the zoo folder)."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Re-evaluate stored models (no training) and merge the new Gini / robust accuracy into their cards."""
    from advex.evaluation.attributions import AttributionPlan
    from advex.evaluation.report import EvaluationPlan
    from advex.zoo.build import refresh_metrics

    check_choice(reference, REFERENCES, "--reference")
    check_choice(output, OUTPUTS, "--output")
    if gini_images < 0 or robust_images < 1:
        raise AdvexError("--gini-images must be >= 0 and --robust-images >= 1")
    plan = EvaluationPlan(gini_images=gini_images, robust_images=robust_images, attacks=tuple(dict.fromkeys(attack)),
                          attributions=AttributionPlan(reference=reference, output=output, seed=seed), seed=seed)
    for current in dataset:
        refresh_metrics(current, tuple(name) or None, out_dir=out, plan=plan, device=device, data_dir=data_dir,
                        log=typer.echo)


def register(app: typer.Typer) -> None:
    """Add the ``advex zoo`` command group to ``app``."""
    app.add_typer(zoo_app, name="zoo")
