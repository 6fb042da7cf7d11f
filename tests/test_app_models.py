"""The dashboard's model helpers on a tiny zoo (conftest's ``tiny_zoo``): cards, the natural / l1 / adversarial
choice, shared loading."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import tiny_model

from advex.dashboard import models
from advex.models.io import save_model


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
    assert images.X.shape[1:] == (1, 28, 28) and len(images.X_train) == 100
