"""Speed of the attributions on MNIST (MadryCNN adv_0.3 of the zoo), against today's DeepSHAP as the anchor.

Targets: DeepSHAP of one image against ``black`` <= 60 ms on 2 cores; the reference/output ablation
(2 data sets x 2 methods x 5 references x 2 outputs x 3 models x 200 images) within 20 minutes on 2 cores.
Prints medians (wall time with ``--threads`` torch threads, and CPU time of a single-thread run, which
stays meaningful when other processes load the machine), the anchor measured in the same run
(shap's DeepExplainer with 100 training images as background: advex's DeepSHAP before this change),
where the time goes, images per second for every method x reference x output, the ablation's
projected time, and with ``--gini-k`` how the mean Gini of IG against ``train-sample`` moves with k.
Run: ``ADVEX_DATA_DIR=../shared/data python bench/bench_attribution.py`` (random images without the data).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import numpy as np
import shap
import torch

from advex.attribution import Explainer, explain
from advex.attribution.arguments import as_targets, private_copy
from advex.attribution.deep_shap import deeplift_shap_rules
from advex.attribution.outputs import ClassProbability
from advex.attribution.references import make_reference, train_sample
from advex.metrics.gini import gini
from advex.vocabulary import IG_STEPS, OUTPUTS, REFERENCES, TRAIN_SAMPLE_SIZE

ABLATION = {"datasets": 2, "models": 3, "images": 200}  # x 2 methods x 5 references x 2 outputs
BUDGET_S = 20 * 60


def load_model_and_images(n_test: int) -> tuple[torch.nn.Module, str, np.ndarray, np.ndarray]:
    """MadryCNN adv_0.3 of the zoo and (test images, training images): MNIST when on disk, else random."""
    try:
        from advex.zoo import load_zoo_model

        model, _card = load_zoo_model("mnist", "adv_0.3")
        which = "zoo mnist/adv_0.3"
    except Exception:  # noqa: BLE001 - the speed does not depend on the weights
        from advex.models.cnn import MadryCNN

        torch.manual_seed(0)
        model, which = MadryCNN().eval(), "random MadryCNN (zoo model not found)"
    try:
        from advex.data.images import load_image_dataset

        data = load_image_dataset("mnist")
        X_test, X_train, source = data.X_test[:n_test], data.X_train, "MNIST test images"
    except Exception:  # noqa: BLE001
        rng = np.random.default_rng(0)
        X_test, X_train = rng.random((n_test, 1, 28, 28), dtype=np.float32), rng.random((1000, 1, 28, 28), dtype=np.float32)
        source = "random images"
    return model, f"{which}, {source}", X_test.astype(np.float32), X_train.astype(np.float32)


def anchor_deep_shap(model: torch.nn.Module, x: torch.Tensor, target: int, background: torch.Tensor) -> np.ndarray:
    """advex's DeepSHAP before this change: shap's DeepExplainer over the background, one pass per image."""
    explainer = shap.DeepExplainer(ClassProbability(copy.deepcopy(model).eval(), target), background)
    return explainer.shap_values(x, check_additivity=True)


def median_time(fn, repeats: int, clock=time.perf_counter) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def wall_and_cpu(fn, repeats: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``fn`` over the same ``repeats`` calls."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def latency(name: str, fn, repeats: int, threads: int, anchor: tuple[float, float] | None = None,
            target_s: float | None = None) -> tuple[float, float]:
    """(median wall with ``threads`` threads, median CPU of one thread) of ``fn``, printed with the wall of one thread
    and the ratios to ``anchor``."""
    torch.set_num_threads(threads)
    wall = median_time(fn, repeats)
    torch.set_num_threads(1)
    wall_1, cpu = wall_and_cpu(fn, repeats)
    torch.set_num_threads(threads)
    extra = f" | anchor / this: CPU {anchor[1] / cpu:5.1f}x, wall {anchor[0] / wall:5.1f}x" if anchor else ""
    extra += f" | target <= {1000 * target_s:.0f} ms: {'OK' if min(wall, wall_1) <= target_s else 'SLOW'}" if target_s else ""
    print(f"{name:<44} wall ({threads} threads) {1000 * wall:7.1f} ms | 1 thread: wall {1000 * wall_1:7.1f} ms, "
          f"CPU {1000 * cpu:7.1f} ms{extra}")
    return wall, cpu


def where_deep_shap_time_goes(model, image: torch.Tensor, repeats: int) -> None:
    """CPU time (one thread) of each step of DeepSHAP of one image against black."""
    torch.set_num_threads(1)
    copy_s = median_time(lambda: private_copy(model), repeats, time.process_time)
    private = private_copy(model)
    targets_s = median_time(lambda: as_targets(None, private, image), repeats, time.process_time)
    reference = make_reference("black", image)
    targets = as_targets(None, private, image)
    pass_s = median_time(lambda: deeplift_shap_rules(private, image, targets, reference, check_additivity=False), repeats,
                         time.process_time)
    checked_s = median_time(lambda: deeplift_shap_rules(private, image, targets, reference, check_additivity=True), repeats,
                            time.process_time)
    print(f"  DeepSHAP 1 image, CPU of 1 thread: model copy {1000 * copy_s:.1f} ms, predicted class {1000 * targets_s:.1f} ms, "
          f"DeepLIFT pass (2 rows, hooks) {1000 * pass_s:.1f} ms, additivity check {1000 * (checked_s - pass_s):.1f} ms")


def forward_backward_per_row(model, rows: int, repeats: int) -> float:
    """CPU seconds (one thread) of one forward/backward row of the model in batches of ``rows``."""
    x = torch.rand(rows, 1, 28, 28)

    def step():
        inputs = x.clone().requires_grad_()
        torch.autograd.grad(model(inputs)[:, 0].sum(), inputs)

    torch.set_num_threads(1)
    return median_time(step, repeats, time.process_time) / rows


def throughput_table(model, X: np.ndarray, X_train: np.ndarray, repeats: int, threads: int, ig_k: int, wall_too: bool) -> dict:
    """Seconds per image of explain() for each method x reference x output: wall with ``threads`` threads and CPU of one
    thread (IG against train-sample timed at k=ig_k and scaled to k=100: its cost is linear in k)."""
    per_image = {}
    y = torch.as_tensor(model(torch.as_tensor(X)).argmax(dim=1))
    print(f"\nthroughput on a batch of {len(X)} images (median of {repeats}); train-sample k={TRAIN_SAMPLE_SIZE}"
          f" (IG: timed at k={ig_k}, x {TRAIN_SAMPLE_SIZE // ig_k})")
    print(f"{'method':<9}{'reference':<14}{'output':<13}{'images/s wall':>15}{'ms/image wall':>15}{'images/s CPU':>14}{'ms/image CPU':>14}")
    for method in ("ig", "deepshap"):
        for reference in REFERENCES:
            k = ig_k if (method == "ig" and reference == "train-sample") else TRAIN_SAMPLE_SIZE
            for output in OUTPUTS:
                explainer = Explainer(model, method, reference, output, X_train=X_train, k=k)
                scale = TRAIN_SAMPLE_SIZE / k / len(X)
                torch.set_num_threads(threads)
                wall = median_time(lambda e=explainer: e.attribute(X, y), repeats) * scale if wall_too else float("nan")
                torch.set_num_threads(1)
                cpu = median_time(lambda e=explainer: e.attribute(X, y), repeats, time.process_time) * scale
                torch.set_num_threads(threads)
                per_image[(method, reference, output)] = (wall, cpu)
                print(f"{method:<9}{reference:<14}{output:<13}{1 / wall:15.2f}{1000 * wall:15.1f}{1 / cpu:14.2f}{1000 * cpu:14.1f}",
                      flush=True)
    return per_image


def ablation_projection(per_image: dict, cores: int) -> None:
    """Minutes of the ablation from the measured wall times, and from CPU times spread over ``cores`` cores."""
    images = ABLATION["datasets"] * ABLATION["models"] * ABLATION["images"]
    print(f"\nablation: {images} images per method x reference x output (2 data sets x 3 models x 200; Fashion-MNIST's "
          f"MadryCNN costs the same), 20 configurations per method")
    columns = (("measured wall", 0, 1), (f"CPU time / {cores} cores", 1, cores))
    for label, column, divide in columns if not np.isnan(next(iter(per_image.values()))[0]) else columns[1:]:
        seconds = {key: images * times[column] / divide for key, times in per_image.items()}
        total = sum(seconds.values())
        ig_sample = sum(s for (m, r, _), s in seconds.items() if m == "ig" and r == "train-sample")
        rest = total - ig_sample
        per_k = ig_sample / TRAIN_SAMPLE_SIZE
        k_fit = max(0, int((BUDGET_S - rest) / per_k))
        by_method = ", ".join(f"{m} {sum(s for (mm, _, _), s in seconds.items() if mm == m) / 60:.1f} min" for m in ("ig", "deepshap"))
        print(f"  {label:<22}: total {total / 60:7.1f} min ({by_method}); without IG train-sample {rest / 60:.1f} min; "
              f"IG train-sample {per_k / 60:.2f} min per unit of k -> k <= {k_fit} fits {BUDGET_S // 60} min")


def gini_against_k(model, X: np.ndarray, X_train: np.ndarray, ks: tuple[int, ...], threads: int) -> None:
    """Mean Gini (eq. I.67) of IG (probability) against train-sample for several k on the same images (nested samples),
    and, for the smallest k, for two more seeds: how much the choice of the rows moves it."""
    torch.set_num_threads(threads)
    y = model(torch.as_tensor(X)).argmax(dim=1)
    print(f"\nmean Gini of IG against train-sample, {len(X)} images, {IG_STEPS} steps, probability output:")
    runs = [(k, 0) for k in ks] + [(min(ks), seed) for seed in (1, 2)]
    ginis = {}
    for k, seed in runs:
        start = time.perf_counter()
        ginis[k, seed] = gini(explain(model, X, y, "ig", "train-sample", X_train=X_train, k=k, seed=seed).reshape(len(X), -1))
        print(f"  k={k:<4} seed {seed}: mean Gini {np.nanmean(ginis[k, seed]):.4f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    exact = ginis[max(ks), 0]
    for (k, seed), values in ginis.items():
        if (k, seed) != (max(ks), 0):
            print(f"  k={k:<4} seed {seed} vs k={max(ks)} seed 0: mean |Gini difference| per image "
                  f"{np.nanmean(np.abs(values - exact)):.4f}, difference of the mean Gini {np.nanmean(values) - np.nanmean(exact):+.4f}")


def speed(model, X_test: np.ndarray, X_train: np.ndarray, args: argparse.Namespace) -> None:
    """Single-image latencies against the anchor, where the time goes, throughput and the ablation's projected time."""
    image = torch.as_tensor(X_test[:1])
    label = int(model(image).argmax())
    background = train_sample(X_train, TRAIN_SAMPLE_SIZE, seed=0)
    anchor = latency("anchor: today's DeepSHAP, 100 background, 1 image", lambda: anchor_deep_shap(model, image, label, background),
                     max(3, args.repeats // 3), args.threads)
    latency("DeepSHAP vs black, 1 image", lambda: explain(model, image, label, "deepshap", "black"), args.repeats, args.threads,
            anchor, target_s=0.060)
    latency("DeepSHAP vs train-sample (k=100), 1 image", lambda: explain(model, image, label, "deepshap", "train-sample",
            X_train=X_train), max(3, args.repeats // 3), args.threads, anchor)
    latency(f"IG vs black ({IG_STEPS} steps), 1 image", lambda: explain(model, image, label, "ig", "black"), args.repeats,
            args.threads, anchor)
    where_deep_shap_time_goes(model, image, args.repeats)
    per_row = forward_backward_per_row(model, 200, 5)
    print(f"  IG: {IG_STEPS} forward/backward rows per image and reference; MadryCNN costs {1000 * per_row:.2f} ms of CPU per row "
          f"in batches of 200 -> floor {IG_STEPS * 1000 * per_row:.1f} ms per image (captum's overhead is the rest)")
    per_image = throughput_table(model, X_test[: args.batch], X_train, args.batch_repeats, args.threads, args.ig_k, not args.cpu_only)
    ablation_projection(per_image, args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the targets are for 2 cores)")
    parser.add_argument("--repeats", type=int, default=15, help="repeats of each single-image timing")
    parser.add_argument("--batch", type=int, default=40, help="images per throughput measurement")
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--ig-k", type=int, default=10, help="k at which IG against train-sample is timed (cost is linear in k)")
    parser.add_argument("--gini-k", type=int, nargs="*", default=None, help="also compare IG's mean Gini for these k (e.g. 10 30 100)")
    parser.add_argument("--gini-images", type=int, default=50)
    parser.add_argument("--gini-only", action="store_true", help="only the Gini-versus-k comparison")
    parser.add_argument("--cpu-only", action="store_true", help="throughput in CPU time only (wall times mean nothing on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, which, X_test, X_train = load_model_and_images(max(args.batch, args.gini_images))
    print(f"{which}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, shap {shap.__version__}")
    if not args.gini_only:
        speed(model, X_test, X_train, args)
    if args.gini_k:
        gini_against_k(model, X_test[: args.gini_images], X_train, tuple(args.gini_k), 1 if args.cpu_only else args.threads)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
