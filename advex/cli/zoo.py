"""``advex zoo``: list the pretrained models (zoo and the user's own) and rebuild the zoo."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.zoo import (
    ZOO_DATASETS,
    ZOO_ENTRIES,
    build_zoo,
    describe_zoo_size,
    list_models,
    refresh_gini,
    zoo_dir,
    zoo_table,
)

zoo_app = typer.Typer(help="The pretrained model zoo (pretrained/): list it, rebuild it.", no_args_is_help=True)


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@zoo_app.command("list")
def list_command(
    dataset: str | None = typer.Option(None, help="Only this data set (mnist, fashion-mnist)."),
    user: bool = typer.Option(True, help="Also list models trained by you (dashboard, `advex train`)."),
) -> None:
    """Show every model with clean and PGD accuracy, mean Gini of IG / DeepSHAP, training time and device."""
    cards = list_models(dataset, include_user=user)
    if not cards:
        typer.echo(f"no models found in {zoo_dir()}; rebuild the zoo with `advex zoo build`")
        return
    header = f"{'dataset':<14}{'model':<11}{'source':<7}{'clean':>8}{'PGD@eps':>14}{'Gini IG':>9}{'Gini SH':>9}{'train s':>9}  device"
    typer.echo(header)
    for row in zoo_table(cards):
        pgd = f"{_fmt(row['pgd'])}@{row['pgd_eps']:g}" if row["pgd_eps"] is not None else "-"
        typer.echo(
            f"{row['dataset']:<14}{row['name']:<11}{row['source']:<7}{_fmt(row['clean']):>8}{pgd:>14}"
            f"{_fmt(row['gini_ig']):>9}{_fmt(row['gini_shap']):>9}{_fmt(row['train_s'], 0):>9}  {row['device'] or '-'}"
        )
    typer.echo(f"zoo folder {zoo_dir()}: {describe_zoo_size() / 2**20:.1f} MiB")


@zoo_app.command("build")
def build_command(
    dataset: list[str] = typer.Option(list(ZOO_DATASETS), "--dataset", help="Data set(s) to rebuild."),
    name: list[str] = typer.Option([], "--name", help="Only these models (e.g. natural, l1_0.01, adv_0.3)."),
    protocol: str = typer.Option("fast", help="Protocol of natural and l1 models: fast or paper (App. J.1)."),
    adv_protocol: str | None = typer.Option(None, help="Protocol of adversarial models (default: --protocol)."),
    steps: int | None = typer.Option(None, help="Override every model's number of training steps."),
    workers: int = typer.Option(1, help="Models trained at once (separate processes; useful on a GPU)."),
    time_budget: float | None = typer.Option(None, help="Seconds after which training stops early (cards say so)."),
    gini_images: int = typer.Option(1000, help="Test images for the mean Gini of IG / DeepSHAP on each card."),
    gini_only: bool = typer.Option(False, "--gini-only", help="Only recompute the cards' Gini from stored weights."),
    eval_images: int | None = typer.Option(None, help="Evaluate on only this many test images (dry runs)."),
    seed: int = typer.Option(0, help="Seed of the split, initialization, batches and attack noise."),
    device: str | None = typer.Option(None, help="cuda or cpu (default: cuda when available)."),
    out: Path | None = typer.Option(None, help="Output folder (default: the zoo folder)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache)."),
) -> None:
    """Retrain the zoo: train, evaluate (clean, PGD, Gini) and store each model as float16 + card."""
    if gini_only:
        for current in dataset:
            refresh_gini(current, tuple(name) or None, out_dir=out, device=device,
                         data_dir=str(data_dir) if data_dir else None, gini_images=gini_images, seed=seed,
                         log=typer.echo)
        return
    n_models = sum(1 for d in dataset for entry in ZOO_ENTRIES.get(d, ()) if not name or entry.name in name)
    with tqdm(total=n_models, desc="zoo models", unit="model") as bar:
        def log(message: str) -> None:
            bar.write(message)
            if not message.startswith("training "):
                bar.update()

        build_zoo(
            tuple(dataset), out_dir=out, names=tuple(name) or None, protocol=protocol, adv_protocol=adv_protocol,
            seed=seed, steps=steps, device=device, data_dir=str(data_dir) if data_dir else None, workers=workers,
            time_budget_s=time_budget, gini_images=gini_images, eval_images=eval_images, log=log,
        )
    typer.echo(f"zoo written to {out or zoo_dir()}")


def register(app: typer.Typer) -> None:
    """Add the ``advex zoo`` command group to ``app``."""
    app.add_typer(zoo_app, name="zoo")
