"""The tabular comparison (n, l, a models), the two protocols, Feature-Impact frames and Table 1 rows (CLI)."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import require_dataset
from scipy.special import expit

from advex.attribution.closed_form import closed_form_ig
from advex.cli import main
from advex.data.synthetic import make_synthetic
from advex.experiments.table1 import table1_rows
from advex.experiments.tabular import (
    compare,
    feature_impact_frame,
    reference_rows,
    run_tabular_comparison,
    tabular_attributions,
    tabular_table1_rows,
    train_and_evaluate,
)
from advex.experiments.tabular_ablation import measure, one_at_a_time, summarize
from advex.experiments.tabular_protocols import (
    AUTHORS_PROTOCOL,
    ELEMENTS,
    PAPER_PROTOCOL,
    differing_elements,
    tabular_protocol,
    with_element,
)
from advex.training.tabular import LogisticTrainer
from advex.vocabulary import Setting

TABLE1_KEYS = {"dataset", "attr", "model", "eps", "lam", "accuracy", "mean_gini", "dG", "acc_drop", "protocol", "reference", "output"}


@pytest.fixture(scope="module")
def comparison():
    return run_tabular_comparison(make_synthetic(seed=1), eps=0.2, lam=0.02, seed=0)


def test_comparison_has_three_models_and_consistent_dG(comparison):
    results = comparison.results
    assert set(results) == {"n", "l", "a"}
    assert [r.setting for r in results.values()] == [Setting("natural"), Setting("l1", lam=0.02), Setting("adv", eps=0.2)]
    for key in ("a", "l"):
        assert comparison.dG[key] == pytest.approx(results[key].mean_gini - results["n"].mean_gini)
        assert comparison.acc_drop[key] == pytest.approx(results["n"].accuracy - results[key].accuracy)
    assert comparison.dG["a"] > 0.05  # eps = 0.2 dominates the weak features' |a_i| = 0.05


def test_comparison_is_built_from_three_single_model_results(comparison):
    data = make_synthetic(seed=1)
    results = {key: train_and_evaluate(data, setting) for key, setting in
               {"n": Setting("natural"), "l": Setting("l1", lam=0.02), "a": Setting("adv", eps=0.2)}.items()}
    built = compare(data.name, results)
    assert built.dG == pytest.approx(comparison.dG) and built.acc_drop == pytest.approx(comparison.acc_drop)
    assert (built.eps, built.lam) == (0.2, 0.02)


def test_ig_completeness_in_comparison(comparison):
    result = comparison.results["a"]
    X = make_synthetic(seed=1).X_test
    with torch.no_grad():
        p = torch.sigmoid(result.model(torch.tensor(X))).numpy()
        p0 = torch.sigmoid(result.model(torch.zeros(1, X.shape[1]))).numpy()
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
    trainer = LogisticTrainer("adv", 0.1).fit(data.X_train, data.y_train)
    attributions = tabular_attributions(trainer.to_module(), data.X_test[:50])
    np.testing.assert_allclose(attributions["IG"], attributions["SHAP"], atol=1e-4)


# ---------------------------------------------------------------- the protocols


def test_authors_ig_is_the_20_step_left_riemann_sum():
    """Their ig/approx.py: alphas 0, 1/20, ..., 19/20 of the gradient of P(label 1), times x (zero baseline).
    For sigma(<w, x> + b) the gradient at alpha x is sigma'(b + alpha <w, x>) w, summed here by hand."""
    data = make_synthetic(n_samples=400, seed=5)
    trainer = LogisticTrainer("natural", epochs=3).fit(data.X_train, data.y_train)
    X = data.X_test[:20].astype(np.float64)
    logits = X @ trainer.coef_
    slopes = np.mean([expit(trainer.intercept_ + a * logits) * (1 - expit(trainer.intercept_ + a * logits))
                      for a in np.arange(20) / 20], axis=0)
    by_hand = slopes[:, None] * X * trainer.coef_
    ig = tabular_attributions(trainer.to_module(), X, AUTHORS_PROTOCOL)["IG"]
    np.testing.assert_allclose(ig, by_hand, rtol=1e-4, atol=1e-7)
    exact = closed_form_ig(trainer.coef_, X, 0.0, bias=trainer.intercept_)  # eq. 15: the quadratures differ ...
    assert not np.allclose(ig, exact, rtol=1e-3)
    np.testing.assert_allclose(AUTHORS_PROTOCOL.gini(ig) - AUTHORS_PROTOCOL.gini(exact), 0.0, atol=1e-6)  # ... not the Gini


def test_authors_gini_is_olivia_guests_formula():
    """Their model_metrics.gini: v = sort(|a| + 1e-7), sum((2i - n - 1) v) / (n sum v); first min(1000, n) rows."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 9)) * (rng.random((5, 9)) > 0.6)
    v = np.sort(np.abs(A) + 1e-7, axis=1)
    n = A.shape[1]
    theirs = ((2 * np.arange(1, n + 1) - n - 1) * v).sum(axis=1) / (n * v.sum(axis=1))
    np.testing.assert_allclose(AUTHORS_PROTOCOL.gini(A), theirs, rtol=1e-12)
    assert AUTHORS_PROTOCOL.measured_rows(1625) == 1000 and AUTHORS_PROTOCOL.measured_rows(921) == 921
    assert PAPER_PROTOCOL.measured_rows(2438) == 2438
    zero_row = np.zeros((1, 9))
    assert np.isnan(PAPER_PROTOCOL.gini(zero_row)[0]) and AUTHORS_PROTOCOL.gini(zero_row)[0] == pytest.approx(0.0)


def test_protocols_read_in_one_place():
    assert tabular_protocol("authors") is AUTHORS_PROTOCOL
    trainer = AUTHORS_PROTOCOL.trainer(Setting("adv", eps=0.1), seed=3)
    params = trainer.get_params()
    assert {k: params[k] for k in ("mode", "eps", "seed")} == {"mode": "adv", "eps": 0.1, "seed": 3}
    for field in ("optimizer", "learning_rate", "epochs", "batch_size", "init", "clean_epochs", "l1_scope", "probability_clip"):
        assert params[field] == getattr(AUTHORS_PROTOCOL, field)
    assert (trainer.optimizer, trainer.init, trainer.clean_epochs, trainer.batch_size, trainer.epochs) == ("ftrl", "normal", 2, 32, 30)
    assert AUTHORS_PROTOCOL.data_options("mushroom") == {"test_size": 0.2, "val_size": 0.2, "stratify": False, "encoding": "authors"}
    assert set(differing_elements(AUTHORS_PROTOCOL, PAPER_PROTOCOL)) == set(ELEMENTS) - {"l1 scope"}
    adam = with_element(AUTHORS_PROTOCOL, "optimizer", PAPER_PROTOCOL)
    assert adam.optimizer == "adam" and differing_elements(adam, AUTHORS_PROTOCOL) == ["optimizer"]
    variants = one_at_a_time()
    assert variants[0] is AUTHORS_PROTOCOL and variants[-1] is PAPER_PROTOCOL and len(variants) == len(ELEMENTS) + 1
    with pytest.raises(Exception, match="paper, authors"):
        tabular_protocol("mine")


def test_references_for_tabular_rows():
    """mean: IG against the mean training row; train-sample: IG averaged over 100 training rows (closed form, eq. 15)."""
    data = make_synthetic(n_samples=400, seed=6)
    trainer = LogisticTrainer("adv", 0.1, epochs=3).fit(data.X_train, data.y_train)
    X = data.X_test[:10]
    mean_row = reference_rows("mean", data.X_train)
    np.testing.assert_allclose(mean_row[0], data.X_train.mean(axis=0), rtol=1e-5, atol=1e-6)
    ig = tabular_attributions(trainer.to_module(), X, references=mean_row)["IG"]
    np.testing.assert_allclose(ig, closed_form_ig(trainer.coef_, X, mean_row[0], bias=trainer.intercept_), atol=1e-5)
    sample = reference_rows("train-sample", data.X_train, seed=1)[:4]
    ig = tabular_attributions(trainer.to_module(), X, references=sample)["IG"]
    expected = np.mean([closed_form_ig(trainer.coef_, X, u, bias=trainer.intercept_) for u in sample], axis=0)
    np.testing.assert_allclose(ig, expected, atol=1e-5)
    with pytest.raises(Exception, match="images"):
        reference_rows("blur", data.X_train)


def test_ablation_smoke():
    quick = {"epochs": 2, "gini_rows": 40, "ig_steps": 8}
    protocols = [dataclasses.replace(p, **quick) for p in (AUTHORS_PROTOCOL, PAPER_PROTOCOL)]
    frame = measure(protocols, ["synthetic"], [0])
    assert set(frame.protocol) == {"authors", "paper"} and set(frame.model) == {"l", "a"}
    summary = summarize(frame)
    assert list(summary.columns[:4]) == ["protocol", "dataset", "attr", "model"] and (summary.seeds == 1).all()


# ---------------------------------------------------------------- Table 1 rows and the CLI


@pytest.mark.parametrize("protocol, n_examples", [("paper", {"mushroom": 2438, "spambase": 1381}),
                                                  ("authors", {"mushroom": 1000, "spambase": 921})])
def test_table1_cli_on_real_data(data_dir, tmp_path, protocol, n_examples):
    for folder in ("mushroom", "spambase"):
        require_dataset(data_dir, folder)
    out = tmp_path / "table1.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "mushroom", "spambase", "--json", str(out), "--data-dir", str(data_dir),
              "--protocol", protocol])
    assert exit_info.value.code == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 12
    for row in rows:
        assert TABLE1_KEYS <= set(row)
        assert (row["protocol"], row["reference"], row["output"]) == (protocol, "black", "probability")
        assert row["n_examples"] == n_examples[row["dataset"]]
        assert row["model"] in {"n", "l", "a"} and row["attr"] in {"IG", "SHAP"}
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["mean_gini"] <= 1.0
    by_key = {(r["dataset"], r["attr"], r["model"]): r for r in rows}
    assert by_key[("mushroom", "IG", "n")]["accuracy"] > 0.95
    assert by_key[("spambase", "IG", "n")]["accuracy"] > 0.88
    for dataset in ("mushroom", "spambase"):
        for model in "nla":
            ig, shap = by_key[(dataset, "IG", model)], by_key[(dataset, "SHAP", model)]
            assert abs(ig["mean_gini"] - shap["mean_gini"]) < 1e-3
        assert by_key[(dataset, "IG", "a")]["dG"] > 0  # adversarial training sparsifies (Table 1)


def test_table1_rows_record_reference_and_output():
    rows = tabular_table1_rows("synthetic", protocol="authors", reference="mean", output="logit", attrs=("IG",))
    assert len(rows) == 3 and {(r["protocol"], r["reference"], r["output"], r["attr"]) for r in rows} == {
        ("authors", "mean", "logit", "IG")}


def test_table1_cli_passes_reference_and_output_to_the_image_rows(monkeypatch, capsys):
    seen = {}

    def fake_image_rows(name, **kwargs):
        seen.update(kwargs, name=name)
        settings = {"n": Setting("natural"), "l": Setting("l1", lam=0.01), "a": Setting("adv", eps=0.3)}
        from advex.experiments.table1 import Measured

        measured = {key: Measured(0.99, {"IG": (0.5, 0.01)}) for key in settings}
        return table1_rows(name, settings, measured)

    monkeypatch.setattr("advex.cli.table1.image_table1_rows", fake_image_rows)
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "mnist", "--reference", "train-sample", "--output", "logit"])
    assert exit_info.value.code == 0
    assert (seen["name"], seen["reference"], seen["output"]) == ("mnist", "train-sample", "logit")
    assert "mnist" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--datasets", "mushroom", "--reference", "blur"], "blur is for images"),
    (["--datasets", "mushroom", "--protocol", "mine"], "--protocol"),
    (["--datasets", "mushroom", "--output", "odds"], "--output"),
])
def test_table1_cli_rejects_bad_choices_before_any_work(monkeypatch, capsys, args, message):
    monkeypatch.setattr("advex.cli.table1.tabular_table1_rows", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["directory", "under a file"])
def test_table1_cli_checks_the_json_path_before_any_work(monkeypatch, capsys, tmp_path, where):
    monkeypatch.setattr("advex.cli.table1.tabular_table1_rows", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file.txt").write_text("x")
    target = tmp_path if where == "directory" else tmp_path / "file.txt" / "rows.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["table1", "--datasets", "mushroom", "--json", str(target)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


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
