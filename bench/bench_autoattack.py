"""Cost of AutoAttack (standard) on the zoo's models on CPU, and its accuracy beside the paper's PGD.

For each model, on the first ``--n`` test images at the paper's robust-accuracy eps
(``paper_settings(dataset).robust_eps``), runs the paper's PGD (App. J.1; the anchor, timed in
the same run) and AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square; via
:func:`advex.evaluation.robustness.robust_accuracy`), once per ``--threads`` value. Reports seconds
per image (mean and median over chunks), the AutoAttack/PGD time ratio, the extrapolation to
``--extrapolate`` images, both accuracies, the accuracy after each attack and the gradient-masking check.

Resumable: results are written per chunk of ``--chunk`` images, atomically, to ``--state``; a re-run
with the same settings continues where the last stopped (a larger ``--n`` reuses the chunks already
done). Each chunk is attacked as one batch: larger chunks cost much less per image (the attacks'
per-step overhead is shared), smaller ones lose less when interrupted. Progress shows with tqdm. Run, e.g.::

    ADVEX_DATA_DIR=../shared/data python bench/bench_autoattack.py --n 20 --chunk 10 --threads 1 2 --json aa.json
    ADVEX_DATA_DIR=../shared/data python bench/bench_autoattack.py --n 1000 --chunk 100 --threads 1 --json aa1000.json

``--update-cards`` then writes the AutoAttack result into each zoo card's ``robust_accuracy`` list
(replacing an earlier AutoAttack entry at the same eps), with the number of images, the library's
version, the attacks and the masking check, as ``advex zoo refresh --attack autoattack`` would.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from advex.data.images import load_image_dataset
from advex.evaluation.robustness import (
    AUTOATTACK_LIBRARY,
    BLACK_BOX,
    STANDARD_ITERATIONS,
    STANDARD_SQUARE_QUERIES,
    STANDARD_TARGET_CLASSES,
    WHITE_BOX,
    gradient_masking_check,
    robust_accuracy,
)
from advex.models.io import atomic_write_json, read_card
from advex.vocabulary import paper_settings
from advex.zoo import load_zoo_model
from advex.zoo.build import update_card
from advex.zoo.catalogue import zoo_dir

MODELS = ("mnist/adv_0.3", "mnist/natural", "fashion-mnist/adv_0.1", "fashion-mnist/natural")
STATE_VERSION = 1


def _settings(model: str, threads: int, args: argparse.Namespace) -> dict:
    dataset, name = model.split("/", 1)
    return {"version": STATE_VERSION, "dataset": dataset, "name": name, "threads": threads,
            "eps": paper_settings(dataset).robust_eps, "seed": args.seed, "chunk": args.chunk,
            "iterations": args.iterations, "square_queries": args.square_queries}


def _state_path(settings: dict, state_dir: Path) -> Path:
    return state_dir / (f"{settings['dataset']}_{settings['name']}_t{settings['threads']}_it{settings['iterations']}"
                        f"_q{settings['square_queries']}_c{settings['chunk']}_s{settings['seed']}.json")


def _load_state(path: Path, settings: dict) -> dict:
    if path.exists():
        state = json.loads(path.read_text())
        if state.get("settings") == settings:
            return state
        print(f"{path} holds other settings; starting it anew")
    return {"settings": settings, "chunks": {}}


def _run_chunk(model, X, y, settings: dict) -> dict:
    """PGD then AutoAttack on one chunk of images, each timed."""
    start = time.perf_counter()
    pgd = robust_accuracy(model, X, y, settings["eps"], "pgd", dataset=settings["dataset"], seed=settings["seed"])
    pgd_seconds = time.perf_counter() - start
    start = time.perf_counter()
    aa = robust_accuracy(model, X, y, settings["eps"], "autoattack", seed=settings["seed"],
                         iterations=settings["iterations"], square_queries=settings["square_queries"])
    aa_seconds = time.perf_counter() - start
    return {"n": len(y), "pgd_robust": pgd.robust.tolist(), "pgd_seconds": pgd_seconds,
            "pgd_attack": {key: pgd.attack[key] for key in ("steps", "step_size", "restarts")},
            "aa_robust": aa.robust.tolist(), "aa_seconds": aa_seconds, "aa_robust_after": aa.attack["robust_after"],
            "aa_library_warnings": aa.attack["library_warnings"], "aa_library_version": aa.attack["library_version"]}


def _summary(state: dict, n: int) -> dict:
    """Accuracies, per-attack survivors, timings and the masking check over the first ``n`` images."""
    settings = state["settings"]
    chunks = [state["chunks"][str(start)] for start in range(0, n, settings["chunk"])]
    pgd = np.concatenate([chunk["pgd_robust"] for chunk in chunks]).astype(bool)
    aa = np.concatenate([chunk["aa_robust"] for chunk in chunks]).astype(bool)
    after = {key: sum(chunk["aa_robust_after"][key] for chunk in chunks) for key in chunks[0]["aa_robust_after"]}
    aa_per_image = [chunk["aa_seconds"] / chunk["n"] for chunk in chunks]
    pgd_per_image = [chunk["pgd_seconds"] / chunk["n"] for chunk in chunks]
    aa_mean, pgd_mean = statistics.fmean(aa_per_image), statistics.fmean(pgd_per_image)
    masking = gradient_masking_check(n, after[WHITE_BOX[-1]] - after[BLACK_BOX])
    warnings = sorted({message for chunk in chunks for message in chunk["aa_library_warnings"]})
    return {
        **{key: settings[key] for key in ("dataset", "name", "threads", "eps", "seed", "iterations", "square_queries")},
        "standard_budget": (settings["iterations"], settings["square_queries"]) == (STANDARD_ITERATIONS, STANDARD_SQUARE_QUERIES),
        "n_images": n,
        "images": f"first {n} test images",
        "pgd": {**chunks[0]["pgd_attack"], "accuracy": float(pgd.mean())},
        "autoattack": {"library": "pyautoattack", "library_version": chunks[0]["aa_library_version"],
                       "accuracy": float(aa.mean()), "accuracy_after": {key: count / n for key, count in after.items()},
                       "robust_after": after, "masking": masking.to_dict(), "library_warnings_sample": warnings[:5]},
        "robust_pgd_not_aa": int((pgd & ~aa).sum()),
        "robust_aa_not_pgd": int((aa & ~pgd).sum()),
        "seconds_per_image": {"pgd_mean": pgd_mean, "pgd_median": statistics.median(pgd_per_image),
                              "autoattack_mean": aa_mean, "autoattack_median": statistics.median(aa_per_image)},
        "autoattack_over_pgd": aa_mean / pgd_mean if pgd_mean else None,
    }


def bench_model(model_id: str, threads: int, args: argparse.Namespace) -> dict:
    settings = _settings(model_id, threads, args)
    path = _state_path(settings, args.state)
    state = _load_state(path, settings)
    torch.set_num_threads(threads)
    model, _ = load_zoo_model(settings["dataset"], settings["name"])
    data = load_image_dataset(settings["dataset"], split="test")
    if args.n > len(data.y_test):
        raise SystemExit(f"--n {args.n} exceeds the {len(data.y_test)} test images")
    starts = range(0, args.n, args.chunk)
    done = args.chunk * sum(str(start) in state["chunks"] for start in starts)
    with tqdm(total=args.n, initial=done, desc=f"{model_id} t={threads}", unit="img") as bar:
        for start in starts:
            if str(start) in state["chunks"]:
                continue
            stop = start + args.chunk
            state["chunks"][str(start)] = _run_chunk(model, data.X_test[start:stop], data.y_test[start:stop], settings)
            atomic_write_json(path, state)
            bar.update(args.chunk)
    return _summary(state, args.n)


def card_entry(summary: dict) -> dict:
    """A card's ``robust_accuracy`` entry for the AutoAttack result of :func:`_summary`."""
    aa, order = summary["autoattack"], (*WHITE_BOX, BLACK_BOX)
    targets = STANDARD_TARGET_CLASSES
    return {
        "attack": "autoattack", "name": "AutoAttack", "version": "standard", "standard_budget": summary["standard_budget"],
        "library": AUTOATTACK_LIBRARY, "library_version": aa["library_version"],
        "reference": "Croce & Hein, ICML 2020, arXiv:2003.01690 (RobustBench's evaluation)",
        "attacks": list(order), "iterations": dict.fromkeys(WHITE_BOX, summary["iterations"]),
        "square_queries": summary["square_queries"], "restarts": dict.fromkeys(order, 1),
        "target_classes": {"apgd-t": targets, "fab-t": targets},
        "eps": summary["eps"], "norm": "Linf", "seed": summary["seed"], "accuracy": aa["accuracy"],
        "n_images": summary["n_images"], "images": summary["images"], "robust_after": aa["robust_after"],
        "accuracy_after": aa["accuracy_after"], "masking": aa["masking"],
        "device": f"CPU ({summary['threads']} thread{'s' if summary['threads'] > 1 else ''})",
        "seconds_per_image": summary["seconds_per_image"]["autoattack_mean"],
        "pgd_same_images": summary["pgd"]["accuracy"],
    }


def write_to_card(summary: dict) -> None:
    """Replace the card's AutoAttack entry at this eps by ``summary``'s (atomic; the weights stay)."""
    stem = zoo_dir() / summary["dataset"] / summary["name"]
    kept = [entry for entry in read_card(stem).get("robust_accuracy") or []
            if not (entry.get("attack") == "autoattack" and np.isclose(entry.get("eps", -1), summary["eps"]))]
    update_card(stem, {"robust_accuracy": [*kept, card_entry(summary)]})
    print(f"{summary['dataset']}/{summary['name']}: card updated (AutoAttack {summary['autoattack']['accuracy']:.1%}, "
          f"{summary['n_images']} images)")


def _machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "load_average": list(os.getloadavg())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="dataset/name of zoo models")
    parser.add_argument("--n", type=int, default=20, help="the first N test images")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time")
    parser.add_argument("--chunk", type=int, default=100, help="images per saved chunk (one batch; at most --n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=STANDARD_ITERATIONS, help="APGD/FAB iterations (standard 100)")
    parser.add_argument("--square-queries", type=int, default=STANDARD_SQUARE_QUERIES, help="Square queries (standard 5000)")
    parser.add_argument("--extrapolate", type=int, default=1000, help="report the time for this many images")
    parser.add_argument("--state", type=Path, default=Path("artifacts/autoattack_state"), help="folder of partial results")
    parser.add_argument("--json", type=Path, help="write the results here (atomically)")
    parser.add_argument("--update-cards", action="store_true", help="write the AutoAttack result into the zoo cards")
    args = parser.parse_args()
    args.chunk = min(args.chunk, args.n)
    if args.n < 1 or args.chunk < 1 or any(t < 1 for t in args.threads) or args.n % args.chunk:
        raise SystemExit("--n, --chunk and --threads must be >= 1, and --n a multiple of --chunk")
    results = {"machine": _machine(), "models": []}
    for threads in args.threads:
        for model_id in args.models:
            summary = bench_model(model_id, threads, args)
            summary["extrapolated_seconds"] = {
                "images": args.extrapolate,
                "autoattack": summary["seconds_per_image"]["autoattack_mean"] * args.extrapolate,
                "pgd": summary["seconds_per_image"]["pgd_mean"] * args.extrapolate,
            }
            results["models"].append(summary)
            if args.update_cards:
                write_to_card(summary)
            seconds = summary["seconds_per_image"]
            print(f"{model_id:<24} t={threads}  n={args.n}  PGD {summary['pgd']['accuracy']:.1%} "
                  f"AA {summary['autoattack']['accuracy']:.1%}  AA {seconds['autoattack_mean']:.2f} s/img "
                  f"(PGD {seconds['pgd_mean']:.3f}, x{summary['autoattack_over_pgd']:.1f})  "
                  f"{args.extrapolate} img ~ {summary['extrapolated_seconds']['autoattack'] / 3600:.2f} h  "
                  f"masking {'FLAGGED' if summary['autoattack']['masking']['flagged'] else 'ok'}")
    results["machine"]["load_average_end"] = list(os.getloadavg())
    if args.json:
        atomic_write_json(args.json, results)


if __name__ == "__main__":
    main()
