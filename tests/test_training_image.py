"""Image training (App. J.1): learns on real data, l1 shrinks weights, checkpoints resume exactly, bad input is refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import require_dataset

from advex.errors import AdvexError
from advex.evaluation.accuracy import clean_accuracy, pgd_accuracy
from advex.training.image import (
    get_protocol,
    l1_penalty,
    learning_rate,
    train_image_model,
)


def synthetic(n: int = 200, channels: int = 1, size: int = 28, seed: int = 0) -> SimpleNamespace:
    """A tiny learnable image set: the class sets the brightness of one horizontal band."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.int64)
    X = rng.uniform(0, 0.2, (n, channels, size, size)).astype(np.float32)
    for i, label in enumerate(y):
        X[i, :, 2 * label : 2 * label + 2] = 0.9
    return SimpleNamespace(X_train=X, y_train=y, X_test=X, y_test=y)


def weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def test_a_few_steps_on_real_mnist_beat_chance(data_dir):
    require_dataset(data_dir, "mnist")
    from advex.data.images import load_image_dataset

    data = load_image_dataset("mnist", data_dir=data_dir)
    model, history = train_image_model("mnist", "natural", protocol="paper", steps=40, data=data, device="cpu",
                                       progress=False)
    accuracy = clean_accuracy(model, data.X_test[:500], data.y_test[:500])
    assert accuracy > 0.5  # chance is 0.1
    assert history["completed_steps"] == 40 and not history["stopped_early"]
    assert history["log"][-1]["step"] == 40


def test_l1_training_shrinks_the_l1_norm():
    data = synthetic()
    natural, _ = train_image_model("mnist", "natural", protocol="paper", steps=5, data=data, device="cpu",
                                   progress=False)
    sparse, history = train_image_model("mnist", "l1", lam=5.0, protocol="paper", steps=5, data=data, device="cpu",
                                        progress=False)
    assert l1_penalty(sparse) < l1_penalty(natural)
    assert history["l1_weight_per_mean_loss"] == pytest.approx(5.0 / 50)  # the paper's lam on a batch-50 sum


def test_adversarial_training_runs_the_attack_and_ramps_eps_in_fast_protocol():
    data = synthetic(n=32)
    _, history = train_image_model("mnist", "adv", eps=0.3, protocol="fast", steps=4, data=data, device="cpu",
                                   progress=False)
    assert history["train_attack"] == {"steps": 10, "step_size": pytest.approx(0.075)}
    eps_seen = [entry["eps"] for entry in history["log"]]
    assert eps_seen == sorted(eps_seen) and eps_seen[0] < 0.3 and eps_seen[-1] == pytest.approx(0.3)
    _, paper = train_image_model("mnist", "adv", eps=0.3, protocol="paper", steps=1, data=data, device="cpu",
                                 progress=False)
    assert paper["train_attack"] == {"steps": 40, "step_size": 0.01}


def test_interrupted_and_stopped_runs_resume_to_the_same_weights(tmp_path):
    data = synthetic()
    kwargs = dict(protocol="paper", steps=6, data=data, device="cpu", progress=False, seed=3)
    reference, _ = train_image_model("mnist", "natural", **kwargs)

    checkpoint = tmp_path / "run.ckpt"

    def interrupt(step, total, metrics):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_image_model("mnist", "natural", checkpoint=checkpoint, progress_callback=interrupt, **kwargs)
    assert checkpoint.exists() and not list(tmp_path.glob("*.tmp"))
    state = torch.load(checkpoint, weights_only=True)
    assert state["step"] == 2

    stops = iter([False, False, True])
    model, history = train_image_model("mnist", "natural", checkpoint=checkpoint, should_stop=lambda: next(stops, True),
                                       **kwargs)
    assert history["stopped_early"] and history["completed_steps"] == 4

    resumed, history = train_image_model("mnist", "natural", checkpoint=checkpoint, **kwargs)
    assert history["completed_steps"] == 6 and not history["stopped_early"]
    assert all(torch.equal(a, b) for a, b in zip(weights(resumed), weights(reference)))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    data = synthetic()
    checkpoint = tmp_path / "run.ckpt"
    train_image_model("mnist", "natural", protocol="paper", steps=1, data=data, device="cpu", checkpoint=checkpoint,
                      progress=False)
    with pytest.raises(AdvexError, match="another run"):
        train_image_model("mnist", "l1", lam=0.01, protocol="paper", steps=1, data=data, device="cpu",
                          checkpoint=checkpoint, progress=False)
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(AdvexError, match="delete it"):
        train_image_model("mnist", "natural", protocol="paper", steps=1, data=data, device="cpu",
                          checkpoint=checkpoint, progress=False)


def test_training_is_deterministic_on_cpu():
    data = synthetic(n=32)
    a, _ = train_image_model("mnist", "adv", eps=0.1, protocol="paper", steps=2, data=data, device="cpu", progress=False)
    b, _ = train_image_model("mnist", "adv", eps=0.1, protocol="paper", steps=2, data=data, device="cpu", progress=False)
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))


def test_cifar_path_trains_a_narrow_wrn_with_augmentation():
    data = synthetic(n=64, channels=3, size=32)
    model, history = train_image_model("cifar10", "adv", eps=2 / 255, protocol="paper", steps=2, data=data,
                                       device="cpu", model_kwargs={"depth": 10, "widen_factor": 1}, progress=False)
    assert model.architecture()["arch"] == "wide_resnet" and not model.training
    assert history["train_attack"]["steps"] == 3  # eps_255 + 1


def test_evaluation_helpers_agree_at_zero_eps_and_keep_the_mode():
    data = synthetic()
    model, _ = train_image_model("mnist", "natural", protocol="paper", steps=3, data=data, device="cpu", progress=False)
    model.train()
    clean = clean_accuracy(model, data.X_test, data.y_test)
    assert pgd_accuracy(model, data.X_test, data.y_test, eps=0.0, steps=0, step_size=0.0) == clean
    assert pgd_accuracy(model, data.X_test, data.y_test, eps=0.3, steps=5, step_size=0.1) <= clean
    assert model.training


def test_paper_learning_rate_schedule_for_cifar10():
    proto = get_protocol("cifar10", "paper")
    assert (proto.momentum, proto.weight_decay, proto.batch_size, proto.natural_steps) == (0.9, 2e-4, 128, 70_000)
    rates = [learning_rate(proto, step, 70_000) for step in (0, 39_999, 40_000, 59_999, 60_000, 69_999)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    mnist = get_protocol("mnist", "paper")
    assert (mnist.optimizer, mnist.lr, mnist.batch_size, mnist.natural_steps, mnist.adversarial_steps) == (
        "adam", 1e-4, 50, 25_000, 100_000)


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "svhn", "mode": "natural"}, "unknown image data set"),
    ({"dataset": "mnist", "mode": "dropout"}, "unknown training mode"),
    ({"dataset": "mnist", "mode": "adv", "eps": 0.0}, "eps > 0"),
    ({"dataset": "mnist", "mode": "l1", "lam": 0.0}, "lam > 0"),
    ({"dataset": "mnist", "mode": "natural", "protocol": "slow"}, "unknown protocol"),
    ({"dataset": "mnist", "mode": "natural", "steps": 0}, "steps must be"),
])
def test_bad_settings_raise_clear_errors(kwargs, message):
    with pytest.raises(AdvexError, match=message):
        train_image_model(data=synthetic(), device="cpu", progress=False, **kwargs)
