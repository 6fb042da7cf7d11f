"""Speed of the attributions on one MNIST-sized image (targets: IG 50 steps <= 50 ms, DeepSHAP <= 1 s on 2 cores).

Uses a zoo MadryCNN when ``pretrained/`` has one, else random weights (the speed does not depend on them).
Prints, per operation, the median wall time with ``--threads`` torch threads (the target's setting) and
the median CPU time of a single-thread run, which bounds the wall time on one idle core and stays
meaningful when other processes load the machine. Run: ``python bench/bench_attribution.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from advex.attribution.deep_shap import deep_shap, default_background
from advex.attribution.integrated_gradients import integrated_gradients
from advex.models.cnn import MadryCNN


def _model() -> tuple[torch.nn.Module, str]:
    try:
        from advex.zoo import load_zoo_model

        model, _card = load_zoo_model("mnist", "natural")
        return model.eval(), "zoo mnist/natural"
    except Exception:  # noqa: BLE001 - any missing zoo piece means: benchmark random weights
        torch.manual_seed(0)
        return MadryCNN().eval(), "random MadryCNN"


def _time(fn, repeats: int, clock=time.perf_counter) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def _report(name: str, fn, repeats: int, target: float, threads: int, per: int = 1) -> None:
    torch.set_num_threads(threads)
    wall = statistics.median(_time(fn, repeats)) / per
    torch.set_num_threads(1)
    cpu = statistics.median(_time(fn, repeats, time.process_time)) / per
    verdict = "OK" if min(wall, cpu) <= target else "SLOW"
    print(f"{name:<42} wall ({threads} threads) {1000 * wall:8.1f} ms | CPU (1 thread) {1000 * cpu:8.1f} ms"
          f" | target <= {1000 * target:.0f} ms {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--background", type=int, default=100, help="DeepSHAP background sample size")
    args = parser.parse_args()
    model, which = _model()
    torch.manual_seed(1)
    image = torch.rand(1, 1, 28, 28)
    label = int(model(image).argmax())
    background = default_background(torch.rand(1000, 1, 28, 28), n=args.background)
    load = os.getloadavg()[0]
    print(f"model: {which}; DeepSHAP background: {len(background)} images; {os.cpu_count()} CPUs, load avg {load:.1f}")
    _report("IG, 50 steps, 1 image", lambda: integrated_gradients(model, image, label), args.repeats, 0.05, args.threads)
    _report("DeepSHAP, true class, 1 image", lambda: deep_shap(model, image, label, background),
            max(5, args.repeats // 4), 1.0, args.threads)
    batch = torch.rand(16, 1, 28, 28)
    labels = model(batch).argmax(dim=1)
    _report("IG, 50 steps, per image in a batch of 16",
            lambda: integrated_gradients(model, batch, labels, internal_batch_size=400), 3, 0.05, args.threads, per=16)


if __name__ == "__main__":
    main()
