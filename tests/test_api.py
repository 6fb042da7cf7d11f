"""The public API (advex/__init__.py): numpy or torch in, the same type out; the caller's model never changes."""

import numpy as np
import pytest
import torch

import advex
from advex.errors import AdvexError


@pytest.fixture(scope="module")
def model_and_sample():
    return advex.load_model("mnist/adv_0.3"), advex.load_sample("mnist")


def test_the_public_names_are_listed_and_load():
    for name in ("load_model", "load_sample", "load_dataset", "explain", "Explainer", "gini", "train", "attack",
                 "evaluate", "sparseness", "theory", "Setting", "REFERENCES", "OUTPUTS"):
        assert name in dir(advex)
        assert getattr(advex, name) is not None
    with pytest.raises(AttributeError):
        advex.no_such_name  # noqa: B018


def test_load_model_takes_zoo_ids_and_file_stems(model_and_sample):
    model, _ = model_and_sample
    assert model.card["name"] == "adv_0.3" and not model.training
    from advex.zoo import zoo_dir

    by_stem = advex.load_model(zoo_dir() / "mnist" / "adv_0.3")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(by_stem(x), model(x))
    with pytest.raises(AdvexError, match="zoo id"):
        advex.load_model("nothing/here")


def test_explain_returns_the_callers_type_for_any_target_type(model_and_sample):
    model, (X, y) = model_and_sample
    numpy_maps = advex.explain(model, X[:3], y[:3], method="ig")
    assert isinstance(numpy_maps, np.ndarray) and numpy_maps.shape == (3, 1, 28, 28)
    torch_maps = advex.explain(model, torch.as_tensor(X[:3]), torch.as_tensor(y[:3]), method="ig")
    assert isinstance(torch_maps, torch.Tensor)
    np.testing.assert_allclose(torch_maps.numpy(), numpy_maps, atol=1e-6)
    for target in (int(y[0]), np.int64(y[0]), np.int8(y[0]), torch.tensor(int(y[0]))):
        maps = advex.explain(model, X[:2], target)
        assert maps.shape == (2, 1, 28, 28)
    single = advex.explain(model, X[0], y[0])
    assert single.shape == (1, 28, 28)
    np.testing.assert_allclose(single, numpy_maps[0], atol=1e-6)


def test_gini_is_one_value_per_example_over_all_non_batch_axes(model_and_sample):
    model, (X, y) = model_and_sample
    maps = advex.explain(model, X[:4], y[:4])
    ginis = advex.gini(maps)
    assert ginis.shape == (4,)
    np.testing.assert_allclose(ginis, [advex.gini(m.reshape(-1)) for m in maps])
    assert isinstance(advex.gini(torch.as_tensor(maps)), torch.Tensor)


def test_the_callers_model_is_never_changed(model_and_sample):
    model, (X, y) = model_and_sample
    model.train()
    try:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        advex.explain(model, X[:2], y[:2], method="deepshap")
        advex.explain(model, X[:2], y[:2], method="ig")
        advex.attack(model, X[:2], y[:2], eps=0.1, steps=2, step_size=0.05)
        assert model.training
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    finally:
        model.eval()


def test_attack_stays_in_the_ball_and_returns_the_callers_type(model_and_sample):
    model, (X, y) = model_and_sample
    adversarial = advex.attack(model, X[:4], y[:4], eps=0.3)  # the paper's schedule from the card (mnist)
    assert isinstance(adversarial, np.ndarray) and adversarial.shape == X[:4].shape
    assert np.abs(adversarial - X[:4]).max() <= 0.3 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
    assert isinstance(advex.attack(model, torch.as_tensor(X[:1]), 0, eps=0.1, steps=1, step_size=0.1), torch.Tensor)


def test_bad_input_names_the_argument(model_and_sample):
    model, (X, y) = model_and_sample
    with pytest.raises(AdvexError, match="inputs"):
        advex.explain(model, np.full((1, 1, 28, 28), np.nan, dtype=np.float32), 0)
    with pytest.raises(AdvexError, match="target"):
        advex.explain(model, X[:2], [0, 1, 2])
    with pytest.raises(AdvexError, match="reference"):
        advex.explain(model, X[:1], 0, reference="grey")
    with pytest.raises(AdvexError, match="inputs"):
        advex.explain(model, X[:1, :, :5], 0)


def test_evaluate_on_given_images(model_and_sample):
    model, (X, y) = model_and_sample
    metrics = advex.evaluate(model, X[:20], y[:20], gini_images=5, robust_images=10)
    assert 0.9 <= metrics["clean_accuracy"] <= 1.0
    assert [(r["attack"], r["eps"], r["n_images"]) for r in metrics["robust_accuracy"]] == [("pgd", 0.3, 10)]
    assert metrics["gini"]["n_images"] == 5 and 0 < metrics["gini"]["ig"] < 1
