"""Image training (App. J.1): learns on real data, l1 shrinks weights, checkpoints resume exactly, bad input is refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import require_dataset

from advex.errors import AdvexError
from advex.evaluation.accuracy import clean_accuracy
from advex.evaluation.robustness import robust_accuracy
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
    robust = robust_accuracy(model, data.X_test, data.y_test, 0.3, "pgd", steps=5, step_size=0.1)
    assert robust.accuracy <= clean
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


# --- fast adversarial training: single-step attacks, the live protocol, the catastrophic-overfitting guard ---


def linear_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))


def test_fgsm_rs_is_one_pgd_step_of_1_25_eps_inside_the_ball():
    from advex.attacks.pgd import fgsm_rs_attack, pgd_attack

    model, data = linear_model(), synthetic(n=16)
    x, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    adversarial = fgsm_rs_attack(model, x, y, 0.3, generator=torch.Generator().manual_seed(5))
    same = pgd_attack(model, x, y, 0.3, steps=1, step_size=0.375, generator=torch.Generator().manual_seed(5))
    assert torch.equal(adversarial, same)  # Wong et al.'s alpha = 1.25 eps, random start U(-eps, eps)
    assert (adversarial - x).abs().max() <= 0.3 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1


def test_n_fgsm_is_not_projected_and_without_noise_is_fgsm():
    from advex.attacks.pgd import fgsm_attack, n_fgsm_attack

    model, data = linear_model(), synthetic(n=64)
    x, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    adversarial = n_fgsm_attack(model, x, y, 0.1, generator=torch.Generator().manual_seed(0))
    distance = (adversarial - x).abs().amax(dim=(1, 2, 3))
    assert distance.max() <= 0.3 + 1e-6  # noise 2 eps + step eps
    assert (distance > 0.1 + 1e-3).any()  # beyond the eps ball: no projection (de Jorge et al., 2022)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert torch.equal(n_fgsm_attack(model, x, y, 0.1, noise=0.0), fgsm_attack(model, x, y, 0.1))


def test_cyclic_learning_rate_rises_to_the_peak_then_falls_to_zero():
    proto = get_protocol("mnist", "live")
    rates = [learning_rate(proto, step, 1000) for step in (0, 199, 399, 699, 999)]
    assert rates == pytest.approx([proto.lr / 400, proto.lr / 2, proto.lr, proto.lr / 2, 0.0])


def test_the_live_protocol_trains_a_few_steps_and_its_card_records_the_attack(tmp_path):
    from advex.data.images import ImageDataset
    from advex.evaluation.report import EvaluationPlan
    from advex.vocabulary import Setting
    from advex.zoo.build import train_and_save

    band = synthetic(n=100)
    data = ImageDataset("mnist", band.X_train, band.y_train, band.X_train[:0], band.y_train[:0], band.X_test[:10],
                        band.y_test[:10], [str(k) for k in range(10)], "synthetic bands")
    shown = []
    card = train_and_save("mnist", Setting("adv", 0.3), tmp_path, protocol="live", steps=4, device="cpu", data=data,
                          plan=EvaluationPlan(gini_images=2, robust_images=4), model_kwargs={"hidden": 64},
                          progress_callback=lambda step, total, metrics: shown.append(metrics))
    attack = card["train_attack"]
    assert (attack["method"], attack["steps"], attack["projected"]) == ("n-fgsm", 1, False)
    proto = get_protocol("mnist", "live")
    assert attack["step_size"] == pytest.approx(0.3) and attack["start_noise"] == pytest.approx(proto.attack_noise * 0.3)
    assert "de Jorge" in attack["reference"] and card["protocol"] == "live" and card["steps"] == 4
    guard = attack["guard"]
    assert guard["held_out_images"] == 20 and len(guard["checks"]) == 4  # 20% held out; a check every step here
    assert card["protocol_details"]["lr_schedule"] == "cyclic"
    assert [m["eps"] for m in shown] == sorted(m["eps"] for m in shown) and shown[-1]["eps"] == pytest.approx(0.3)
    assert all(m["probe_map"].shape == (28, 28) and 0 <= m["probe_gini"] <= 1 for m in shown)
    assert all("probe_map" not in entry and "probe_gini" in entry for entry in card["train_log"])


class ScriptedGuard:
    """Replaces the guard's PGD measurement with a scripted sequence of (clean, PGD) accuracies."""

    def __init__(self, monkeypatch, accuracies):
        from advex.training.fast_adversarial import OverfittingGuard

        self.accuracies = iter(accuracies)
        self.weights_seen: list[list[torch.Tensor]] = []

        def measure(guard, model):
            self.weights_seen.append(weights(model))
            return next(self.accuracies)

        monkeypatch.setattr(OverfittingGuard, "measure", measure)


def test_the_guard_rolls_back_to_the_best_weights_on_a_collapse_then_stops(monkeypatch):
    from advex.training.fast_adversarial import GuardSettings, OverfittingGuard

    script = ScriptedGuard(monkeypatch, [(0.9, 0.5), (0.95, 0.6), (0.97, 0.05), (0.95, 0.58), (0.97, 0.02)])
    model = linear_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    guard = OverfittingGuard(torch.zeros(100, 1, 28, 28), torch.zeros(100, dtype=torch.long), 0.3,
                             GuardSettings(max_rollbacks=1), seed=0)
    actions = []
    for step in range(1, 6):
        with torch.no_grad():  # the "training" between checks: every weight moves
            for p in model.parameters():
                p.add_(1.0)
        actions.append(guard.check(step, model, optimizer)[0])
    assert actions == ["ok", "ok", "rollback", "ok", "stop"]
    best = script.weights_seen[1]  # the weights of the check at step 2 (PGD accuracy 0.6)
    assert all(torch.equal(a, b) for a, b in zip(weights(model), best))  # restored after the stop
    summary = guard.summary()
    assert summary["best_step"] == 2 and summary["best_pgd_accuracy"] == 0.6 and summary["rollbacks"] == 2
    assert [(e["step"], e["action"], e["restored_step"]) for e in summary["events"]] == [(3, "rollback", 2),
                                                                                        (5, "stop", 2)]
    assert summary["step_scale"] == 0.5  # halved at the rollback, not at the stop


@pytest.mark.parametrize("best, now, collapse", [
    (0.6, 0.05, True),  # catastrophic overfitting
    (0.6, 0.45, False),  # a drop of 25%: less than the 30% that counts
    (0.15, 0.09, False),  # 40% down, but within 3 binomial standard errors of 100 images
    (0.05, 0.0, False),  # no robustness yet to lose
])
def test_what_counts_as_a_collapse(best, now, collapse):
    from advex.training.fast_adversarial import GuardSettings, OverfittingGuard

    guard = OverfittingGuard(torch.zeros(100, 1, 28, 28), torch.zeros(100, dtype=torch.long), 0.3, GuardSettings())
    guard.best_accuracy, guard.best_step = best, 1
    assert guard.collapsed(now) is collapse


def test_a_model_that_cannot_classify_is_never_the_guards_best(monkeypatch):
    from advex.training.fast_adversarial import GuardSettings, OverfittingGuard

    ScriptedGuard(monkeypatch, [(0.12, 0.12), (0.9, 0.02)])  # a constant predictor's "robust" accuracy is chance
    model = linear_model()
    guard = OverfittingGuard(torch.zeros(100, 1, 28, 28), torch.zeros(100, dtype=torch.long), 0.3, GuardSettings())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert [guard.check(step, model, optimizer)[0] for step in (1, 2)] == ["ok", "ok"]
    assert guard.summary()["best_step"] == 2


def test_live_training_stops_on_a_constructed_collapse_with_the_best_weights(monkeypatch):
    accuracies = [(0.9, 0.2), (0.9, 0.4), (0.95, 0.01), (0.9, 0.35), (0.95, 0.0), (0.95, 0.0)]
    script = ScriptedGuard(monkeypatch, accuracies)
    data = synthetic(n=100)
    model, history = train_image_model("mnist", "adv", eps=0.3, protocol="live", steps=10, data=data, device="cpu",
                                       model_kwargs={"hidden": 64}, progress=False)
    guard = history["train_attack"]["guard"]
    assert [e["action"] for e in guard["events"]] == ["rollback", "rollback", "stop"]
    assert history["stopped_early"] and history["stopped_by"] == "overfitting guard"
    assert history["completed_steps"] == 6 < 10  # a check every step in so short a run
    assert all(torch.equal(a, b) for a, b in zip(weights(model), script.weights_seen[1]))  # the step-2 weights
    assert history["train_attack"]["final_step_scale"] == 0.25
    assert [e.get("guard") for e in history["log"] if "guard" in e] == ["rollback", "rollback", "stop"]


def test_speed_is_measured_and_the_estimate_adds_steps_checks_and_probes():
    from advex.training.image import estimate_seconds, measure_speed

    speed = measure_speed("mnist", "adv", 0.3, protocol="live", device="cpu", steps=2, model_kwargs={"hidden": 64})
    assert speed["step_s"] > 0 and speed["guard_check_s"] > 0 and speed["probe_s"] > 0
    fake = {"step_s": 0.1, "guard_check_s": 2.0, "probe_s": 0.5}
    proto = get_protocol("mnist", "live")
    expected = 7000 * 0.1 + (7000 // proto.guard.every) * 2.0 + (7000 // proto.probe.every) * 0.5
    assert estimate_seconds("mnist", "adv", "live", 7000, fake) == pytest.approx(expected)
    assert estimate_seconds("mnist", "natural", "live", 100, fake) == pytest.approx(100 * 0.1 + 10 * 0.5)


def test_live_training_is_deterministic_and_resumes_with_its_guard(tmp_path):
    data = synthetic(n=100)
    kwargs = dict(eps=0.3, protocol="live", steps=4, data=data, device="cpu", model_kwargs={"hidden": 64},
                  progress=False, seed=2)
    reference, history = train_image_model("mnist", "adv", **kwargs)
    checkpoint = tmp_path / "live.ckpt"
    stops = iter([False, False, True])
    _, first = train_image_model("mnist", "adv", checkpoint=checkpoint, should_stop=lambda: next(stops, True), **kwargs)
    assert first["completed_steps"] == 2 and first["stopped_by"] == "request"
    resumed, second = train_image_model("mnist", "adv", checkpoint=checkpoint, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(weights(resumed), weights(reference)))  # same seed, same weights
    assert second["train_attack"]["guard"]["checks"] == history["train_attack"]["guard"]["checks"]
