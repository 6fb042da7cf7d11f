"""The dashboard's model helpers on a tiny zoo: cards, the natural / l1 / adversarial choice, shared loading.

``build_tiny_zoo`` (also used by the page tests) writes real zoo files: MadryCNN models with
a small hidden layer, saved with ``save_model`` and a card, plus a test-image sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advex.dashboard import models
from advex.models.cnn import MadryCNN
from advex.models.io import save_model
from advex.zoo import write_sample

TINY_ENTRIES = (("natural", 0.0, 0.0), ("l1", 0.0, 0.01), ("adv", 0.1, 0.0), ("adv", 0.3, 0.0))


def tiny_model(seed: int) -> MadryCNN:
    torch.manual_seed(seed)
    return MadryCNN(hidden=16).eval()


def build_tiny_zoo(root: Path, dataset: str = "mnist", n_images: int = 200) -> Path:
    """A zoo folder with four tiny models and a sample of ``n_images`` seeded random 'digits'."""
    rng = np.random.default_rng(0)
    X = (rng.random((n_images, 1, 28, 28)) ** 3).astype(np.float32)
    y = np.arange(n_images) % 10
    write_sample(dataset, X, y, root)
    for seed, (mode, eps, lam) in enumerate(TINY_ENTRIES):
        name = {"natural": "natural", "l1": f"l1_{lam:g}", "adv": f"adv_{eps:g}"}[mode]
        card = {"name": name, "dataset": dataset, "mode": mode, "eps": eps, "lam": lam, "protocol": "test",
                "steps": 0, "clean_accuracy": 0.1 + 0.01 * seed, "robust_accuracy": [{"eps": 0.3, "accuracy": 0.01 * seed}],
                "gini": {"ig": 0.5 + 0.05 * seed, "shap": 0.5 + 0.04 * seed}}
        save_model(tiny_model(seed), root / dataset / name, card)
    return root


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch):
    root = build_tiny_zoo(tmp_path / "zoo")
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(root))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "no-data"))
    return root


def test_triplet_picks_closest_settings(tiny_zoo):
    cards = models.cards("mnist")
    chosen = models.triplet(cards, eps=0.25, lam=0.02)
    assert chosen["natural"]["name"] == "natural"
    assert chosen["l1"]["name"] == "l1_0.01"
    assert chosen["adv"]["name"] == "adv_0.3"
    assert models.setting_values(cards, "adv") == [0.1, 0.3]


def test_models_load_once_and_reload_after_the_file_changes(tiny_zoo):
    card = models.triplet(models.cards("mnist"), 0.1, 0.01)["adv"]
    first = models.load(card)
    assert models.load(card) is first  # shared, not reloaded
    save_model(tiny_model(99), Path(card["stem"]), {k: card[k] for k in ("name", "dataset", "mode", "eps", "lam")})
    reloaded = models.load(card)
    assert reloaded is not first
    assert not torch.equal(reloaded.conv1.weight, first.conv1.weight)


def test_user_models_appear_beside_the_zoo(tiny_zoo, tmp_path):
    from advex.zoo import user_models_dir

    save_model(tiny_model(7), user_models_dir() / "mnist" / "adv_0.2",
               {"name": "adv_0.2", "dataset": "mnist", "mode": "adv", "eps": 0.2, "lam": 0.0})
    table = models.model_table("mnist")
    assert set(table["model"]) == {"natural", "l1_0.01", "adv_0.1", "adv_0.3", "adv_0.2"}
    assert table.set_index("model").loc["adv_0.2", "source"] == "user"
    assert models.setting_values(models.cards("mnist"), "adv") == [0.1, 0.2, 0.3]


def test_image_pool_falls_back_to_the_zoo_sample(tiny_zoo):
    images = models.eval_images("mnist")
    assert images.pool == "zoo sample"
    assert images.X.shape[1:] == (1, 28, 28) and len(images.background) == 100
