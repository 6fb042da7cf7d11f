"""``advex train``: train one natural, l1 or adversarial model and save it with its card."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.cli.options import DATA_DIR, writable_dir
from advex.errors import AdvexError
from advex.vocabulary import IMAGE_DATASETS, MODES, TABULAR_CHOICES, Setting, check_choice


def train(
    dataset: str = typer.Argument(..., help=f"One of {', '.join((*TABULAR_CHOICES, *IMAGE_DATASETS))}."),
    mode: str = typer.Option("adv", help=f"Training mode: {', '.join(MODES)}."),
    eps: float = typer.Option(0.1, help="l_inf radius for --mode adv (images: in [0,1] pixel units)."),
    lam: float = typer.Option(0.02, help="l1 strength for --mode l1."),
    protocol: str = typer.Option("fast", help="Image data sets: the training protocol (fast, paper). Tabular: J.1."),
    steps: int | None = typer.Option(None, help="Image data sets: override the protocol's number of steps."),
    seed: int = typer.Option(0, help="Seed of the split and of training (>= 0)."),
    out: Path | None = typer.Option(None, help="Output folder (default: your model folder, listed beside the zoo)."),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Train a model, evaluate it and save it as safetensors + JSON card."""
    from advex.evaluation.report import QUICK_PLAN
    from advex.zoo.build import train_and_save

    check_choice(dataset, (*TABULAR_CHOICES, *IMAGE_DATASETS), "data set")
    setting = Setting(mode, eps, lam)
    if seed < 0:
        raise AdvexError(f"--seed must be >= 0, got {seed}")
    if steps is not None and steps < 1:
        raise AdvexError(f"--steps must be >= 1, got {steps}")
    if out is not None:
        out = writable_dir(out, "--out")
    with tqdm(desc=f"train {dataset} {setting.describe()}", unit="step") as bar:
        def on_progress(step: int, total: int, _metrics: dict) -> None:
            bar.total = total
            bar.update(step - bar.n)

        card = train_and_save(dataset, setting, out, protocol=protocol, seed=seed, steps=steps, data_dir=data_dir,
                              plan=QUICK_PLAN, progress_callback=on_progress, log=bar.set_postfix_str)
    typer.echo(f"saved {card['stem']} (clean accuracy {card['clean_accuracy']:.2%})")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
