"""``advex zoo build`` as a sweep: the zoo's models trained, evaluated and stored through the Ray runner."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from advex.data.images import load_image_dataset
from advex.data.paths import cache_dir
from advex.errors import AdvexError
from advex.evaluation.report import EvaluationPlan
from advex.models.io import read_card
from advex.sweeps.grid import zoo_trials
from advex.sweeps.runner import run_sweep
from advex.zoo.build import Log, write_index, write_sample
from advex.zoo.catalogue import ZOO_MODELS, zoo_dir, zoo_jobs


def build_zoo(datasets: tuple[str, ...] = tuple(ZOO_MODELS), out_dir: str | Path | None = None,
              names: tuple[str, ...] | None = None, protocol: str = "fast", adv_protocol: str | None = None,
              seed: int = 0, steps: int | None = None, device: str | None = None, data_dir=None,
              time_budget_s: float | None = None, plan: EvaluationPlan = EvaluationPlan(),
              log: Log = print, *, address: str | None = None, num_cpus: int | None = None,
              results_dir: str | Path | None = None, fresh: bool = False, progress: bool = False) -> list[dict]:
    """Rebuild the zoo (or the models in ``names``) into ``out_dir`` (default :func:`zoo_dir`) as a sweep; return the cards.

    The zoo's grid (``sweeps/zoo.toml``, built here from ``ZOO_MODELS``) runs through
    :func:`advex.sweeps.run_sweep`: on a local Ray (``num_cpus``) or the cluster at ``address``,
    models named by their setting, float16 + xz, in the zoo's layout. Result rows go to
    ``results_dir`` (default: a folder of the user cache per zoo folder), so a killed build resumes;
    ``fresh`` retrains every model. ``protocol`` trains natural and l1 models, ``adv_protocol``
    (default: ``protocol``) the adversarial ones. ``time_budget_s`` ends training early so that every
    model is evaluated and saved in time. ``device``: cpu, cuda, or None (GPUs when the cluster has them).
    """
    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    trials = zoo_trials(zoo_jobs(datasets, names), protocol, adv_protocol, seed, steps, plan)
    if results_dir is None:
        results_dir = cache_dir() / "sweeps" / "zoo" / hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:12]
    for dataset in dict.fromkeys(trial.dataset for trial in trials):
        test = load_image_dataset(dataset, data_dir=data_dir, seed=seed, split="test")
        log(f"{dataset}: sample written to {write_sample(dataset, test.X_test, test.y_test, out_dir)}")
    summary = run_sweep(trials, results_dir, address=address, num_cpus=num_cpus, device=device, data_dir=data_dir,
                        models_dir=out_dir, fresh=fresh, progress=progress,
                        deadline=time.time() + time_budget_s if time_budget_s else None)
    log(f"zoo build: {summary.describe()}; result rows in {results_dir}")
    write_index(out_dir)
    if summary.failed:
        raise AdvexError(f"zoo models failed: {', '.join(summary.failed)}; their errors are in {Path(results_dir) / 'results'}; "
                         "run the build again to retry them")
    return [{**read_card(out_dir / trial.dataset / trial.name), "stem": str(out_dir / trial.dataset / trial.name)}
            for trial in trials]
