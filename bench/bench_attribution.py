"""Speed of the attributions on one MNIST-sized image (targets: IG 50 steps <= 50 ms, DeepSHAP <= 1 s on 2 cores).

Uses a zoo MadryCNN when ``pretrained/`` has one, else random weights (the speed does not depend on them).
Prints the median (and min/max) over repeated runs. Run: ``python bench/bench_attribution.py``.
"""

from __future__ import annotations

import argparse
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


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _report(name: str, times: list[float], target: float) -> None:
    median = statistics.median(times)
    verdict = "OK" if median <= target else "SLOW"
    print(f"{name:<38} median {1000 * median:8.1f} ms  (min {1000 * min(times):.1f}, max {1000 * max(times):.1f}, "
          f"n={len(times)})  target <= {1000 * target:.0f} ms  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--background", type=int, default=100, help="DeepSHAP background sample size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, which = _model()
    torch.manual_seed(1)
    image = torch.rand(1, 1, 28, 28)
    label = int(model(image).argmax())
    background = default_background(torch.rand(1000, 1, 28, 28), n=args.background)
    print(f"model: {which}; torch threads: {torch.get_num_threads()}; DeepSHAP background: {len(background)} images")
    _report("IG, 50 steps, 1 image", _time(lambda: integrated_gradients(model, image, label), args.repeats), 0.05)
    _report(
        "DeepSHAP, true class, 1 image",
        _time(lambda: deep_shap(model, image, label, background), max(5, args.repeats // 4)),
        1.0,
    )
    batch = torch.rand(16, 1, 28, 28)
    labels = model(batch).argmax(dim=1)
    ig_batch = _time(lambda: integrated_gradients(model, batch, labels, internal_batch_size=400), 3)
    _report("IG, 50 steps, per image in a batch of 16", [t / 16 for t in ig_batch], 0.05)


if __name__ == "__main__":
    main()
