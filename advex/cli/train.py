"""``advex train``: train one natural, l1 or adversarial model and save it with its card."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from tqdm import tqdm

from advex.experiments.tabular import TABULAR_DATASETS, load_tabular_or_synthetic
from advex.models.io import CARD_SUFFIX, save_model, stem_path
from advex.training.tabular import MODES, LogisticTrainer
from advex.zoo import ZooEntry, user_models_dir


def train(
    dataset: str = typer.Argument(..., help="mushroom, spambase, synthetic, mnist, fashion-mnist or cifar10."),
    mode: str = typer.Option("adv", help="natural, l1 or adv."),
    eps: float = typer.Option(0.1, help="l_inf radius for --mode adv (images: in [0,1] pixel units)."),
    lam: float = typer.Option(0.02, help="l1 strength for --mode l1."),
    protocol: str = typer.Option("fast", help="Image data sets: 'fast' or 'paper' (J.1). Tabular always uses J.1."),
    steps: int | None = typer.Option(None, help="Image data sets: override the protocol's number of steps."),
    seed: int = typer.Option(0, help="Seed of the split and of training."),
    out: Path | None = typer.Option(None, help="Output folder (default: the user model folder beside the zoo)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data directory (default: $ADVEX_DATA_DIR, then the cache)."),
    feat_trans: bool = typer.Option(False, "--feat-trans", help="Tabular: translate features per Assumption FEAT-TRANS (Section 2)."),
) -> None:
    """Train a model with the paper's protocol and save it as safetensors + JSON card."""
    if mode not in MODES:
        raise typer.BadParameter(f"choose one of {MODES}", param_hint="--mode")
    if out is None:
        out = user_models_dir() / dataset
    entry = ZooEntry.for_mode(mode, eps, lam)
    stem = Path(out) / entry.name
    started = time.perf_counter()
    if dataset in TABULAR_DATASETS:
        data = load_tabular_or_synthetic(dataset, data_dir=data_dir, seed=seed, feat_trans=feat_trans)
        trainer = LogisticTrainer(mode=mode, eps=eps, lam=lam, seed=seed)
        with tqdm(total=trainer.protocol.epochs, desc=f"train {dataset} {mode}", unit="epoch") as bar:
            trainer.fit(data.X_train, data.y_train, progress=lambda *_: bar.update())
        model = trainer.to_module()
        metrics = {"test_accuracy": trainer.score(data.X_test, data.y_test), "history": trainer.history_}
        protocol = "J.1 tabular: Adam lr 0.01, batch 32, 30 epochs"
    else:
        from advex.training.image import train_image_model

        model, metrics = train_image_model(
            dataset, mode=mode, eps=eps, lam=lam, protocol=protocol, seed=seed, steps=steps, data_dir=data_dir
        )
    card = {
        "dataset": dataset,
        "mode": mode,
        "eps": entry.eps,
        "lam": entry.lam,
        "seed": seed,
        "feat_trans": feat_trans,
        "protocol": protocol,
        "training_seconds": round(time.perf_counter() - started, 2),
        "metrics": metrics,
    }
    path = save_model(model, stem, card)
    typer.echo(f"saved {path} and {stem_path(stem, CARD_SUFFIX)}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
