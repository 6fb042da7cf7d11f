"""The tabular comparison (n, l, a models), Feature-Impact frames and Table 1 rows."""

import json

import numpy as np
import pytest
from conftest import require_dataset

from advex.cli import main
from advex.data.synthetic import make_synthetic
from advex.experiments.tabular import feature_impact_frame, run_tabular_comparison, tabular_attributions
from advex.training.tabular import LogisticTrainer

TABLE1_KEYS = {"dataset", "attr", "model", "eps", "lam", "accuracy", "mean_gini", "dG", "acc_drop"}


@pytest.fixture(scope="module")
def comparison():
    return run_tabular_comparison(make_synthetic(seed=1), eps=0.2, lam=0.02, seed=0)


def test_comparison_has_three_models_and_consistent_dG(comparison):
    results = comparison.results
    assert set(results) == {"n", "l", "a"}
    for key in ("a", "l"):
        assert comparison.dG[key] == pytest.approx(results[key].mean_gini - results["n"].mean_gini)
        assert comparison.acc_drop[key] == pytest.approx(results["n"].accuracy - results[key].accuracy)
    assert comparison.dG["a"] > 0.05  # eps = 0.2 dominates the weak features' |a_i| = 0.05


def test_ig_completeness_in_comparison(comparison):
    result = comparison.results["a"]
    model = result.model
    import torch

    X = make_synthetic(seed=1).X_test
    with torch.no_grad():
        p = torch.sigmoid(model(torch.tensor(X))).numpy()
        p0 = torch.sigmoid(model(torch.zeros(1, X.shape[1]))).numpy()
    np.testing.assert_allclose(result.ig.sum(axis=1), p - p0, atol=1e-5)


def test_feature_impact_frame_sorted_by_natural_and_filtered(comparison):
    frame = feature_impact_frame(comparison)
    natural = frame[frame.model == "natural"]
    assert natural.FI.is_monotonic_decreasing
    assert set(frame.model) == {"natural", "l1-regularized", "adversarial"}
    filtered = feature_impact_frame(comparison, min_fraction=0.05)
    largest = frame.FI.max()
    kept = set(filtered.feature)
    for feature, group in frame.groupby("feature"):
        assert (feature in kept) == (group.FI.max() >= 0.05 * largest)


def test_ig_and_deepshap_agree_for_logistic_models():
    """Section 6.3: for these linear models IG and DeepSHAP Ginis are virtually identical."""
    data = make_synthetic(n_samples=600, seed=2)
    trainer = LogisticTrainer(mode="adv", eps=0.1).fit(data.X_train, data.y_train)
    attributions = tabular_attributions(trainer.to_module(), data.X_test[:50])
    np.testing.assert_allclose(attributions["IG"], attributions["SHAP"], atol=1e-4)


def test_table1_cli_on_real_data(data_dir, tmp_path):
    for folder in ("mushroom", "spambase"):
        require_dataset(data_dir, folder)
    out = tmp_path / "table1.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "mushroom", "spambase", "--json", str(out), "--data-dir", str(data_dir)])
    assert exit_info.value.code == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 12
    for row in rows:
        assert TABLE1_KEYS <= set(row)
        assert row["model"] in {"n", "l", "a"} and row["attr"] in {"IG", "SHAP"}
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["mean_gini"] <= 1.0
    by_key = {(r["dataset"], r["attr"], r["model"]): r for r in rows}
    assert by_key[("mushroom", "IG", "n")]["accuracy"] > 0.97
    assert by_key[("spambase", "IG", "n")]["accuracy"] > 0.88
    for dataset in ("mushroom", "spambase"):
        for model in "nla":
            ig, shap = by_key[(dataset, "IG", model)], by_key[(dataset, "SHAP", model)]
            assert abs(ig["mean_gini"] - shap["mean_gini"]) < 1e-3
        assert by_key[(dataset, "IG", "a")]["dG"] > 0  # adversarial training sparsifies (Table 1)


def test_table1_cli_rejects_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "iris"])
    assert exit_info.value.code == 2
    assert "unknown data set" in capsys.readouterr().err


def test_missing_data_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADVEX_DATA_DIR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "mushroom", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "advex data fetch mushroom" in err and "Traceback" not in err
