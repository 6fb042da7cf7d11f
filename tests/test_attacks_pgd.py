"""PGD / FGSM (App. J.1): stay in the eps-ball and pixel range, raise the loss, leave the model alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from advex.attacks.pgd import fgsm_attack, paper_pgd_schedule, pgd_attack
from advex.errors import AdvexError


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 14 * 14, 10)
    )


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 28, 28, generator=generator)
    x[:, :, :4] = 0.0  # pixels at both ends of the range, where clipping matters
    x[:, :, -4:] = 1.0
    y = torch.randint(0, 10, (16,), generator=generator)
    return x, y


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_stays_in_eps_ball_and_pixel_range(batch, eps, random_start):
    x, y = batch
    x_adv = pgd_attack(small_cnn(), x, y, eps=eps, steps=10, step_size=0.03, random_start=random_start)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert (x_adv != x).any()


def test_pgd_raises_the_loss_over_the_clean_input(batch):
    x, y = batch
    model = small_cnn()
    x_adv = pgd_attack(model, x, y, eps=0.1, steps=20, step_size=0.01)
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y, reduction="none")
        adv = F.cross_entropy(model(x_adv), y, reduction="none")
    assert adv.sum() > clean.sum()
    assert (adv > clean).float().mean() >= 0.9


def test_pgd_steps_beat_the_random_start_alone(batch):
    x, y = batch
    model = small_cnn()
    noise = pgd_attack(model, x, y, eps=0.1, steps=0, step_size=0.01, generator=torch.Generator().manual_seed(0))
    strong = pgd_attack(model, x, y, eps=0.1, steps=20, step_size=0.01, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert F.cross_entropy(model(strong), y) > F.cross_entropy(model(noise), y)


def test_attacks_leave_mode_and_parameter_gradients_untouched(batch):
    x, y = batch
    model = small_cnn()
    for training in (True, False):
        model.train(training)
        pgd_attack(model, x, y, eps=0.1, steps=3, step_size=0.01)
        fgsm_attack(model, x, y, eps=0.1)
        assert model.training is training
        assert all(p.grad is None for p in model.parameters())
        assert all(p.requires_grad for p in model.parameters())


def test_zero_eps_and_zero_steps_return_the_input(batch):
    x, y = batch
    model = small_cnn()
    assert torch.equal(pgd_attack(model, x, y, eps=0.0, steps=5, step_size=0.01), x)
    assert torch.equal(pgd_attack(model, x, y, eps=0.2, steps=0, step_size=0.01, random_start=False), x)


def test_random_start_is_reproducible_with_a_generator(batch):
    x, y = batch
    model = small_cnn()
    a = pgd_attack(model, x, y, 0.1, 2, 0.01, generator=torch.Generator().manual_seed(7))
    b = pgd_attack(model, x, y, 0.1, 2, 0.01, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_fgsm_matches_the_hand_computed_linear_softmax_gradient():
    """For logits W x + b, d CE / dx = W^T (softmax(Wx+b) - onehot(y)); FGSM = clip(x + eps * sign(that))."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.rand(5, 1, 3, 4)
    y = torch.tensor([0, 1, 2, 1, 0])
    W, b = model[1].weight.detach(), model[1].bias.detach()
    probs = torch.softmax(x.reshape(5, -1) @ W.T + b, dim=1)
    grad = (probs - F.one_hot(y, 3).float()) @ W
    expected = (x + 0.1 * grad.sign().reshape(x.shape)).clamp(0, 1)
    assert torch.allclose(fgsm_attack(model, x, y, eps=0.1), expected, atol=1e-6)


def test_paper_schedules():
    assert paper_pgd_schedule("mnist", 0.3) == (40, 0.01)  # J.1: eps*100 + 10 steps of 0.01
    assert paper_pgd_schedule("fashion-mnist", 0.1) == (20, 0.01)
    steps, size = paper_pgd_schedule("cifar10", 8 / 255)  # J.1: eps_255 + 1 steps of 1/255
    assert steps == 9 and size == pytest.approx(1 / 255)
    assert paper_pgd_schedule("cifar10", 1 / 255)[0] == 2


@pytest.mark.parametrize("call", [
    lambda: paper_pgd_schedule("svhn", 0.1),
    lambda: paper_pgd_schedule("mnist", -0.1),
    lambda: pgd_attack(small_cnn(), torch.rand(1, 1, 28, 28), torch.tensor([0]), eps=float("nan"), steps=1, step_size=0.1),
    lambda: pgd_attack(small_cnn(), torch.rand(1, 1, 28, 28), torch.tensor([0]), eps=0.1, steps=-1, step_size=0.1),
])
def test_bad_arguments_raise_clear_errors(call):
    with pytest.raises(AdvexError):
        call()
