"""The one evaluation (Section 6.3): per-image Gini of each method, Table 1 rows, `advex evaluate` end to end."""

import json

import numpy as np
import pytest
import torch
from conftest import confident_cnn, write_fake_mnist
from typer.testing import CliRunner

from advex.attribution import explain
from advex.cli import app
from advex.errors import AdvexError, ModelFileError
from advex.evaluation.accuracy import clean_accuracy
from advex.evaluation.attributions import AttributionPlan, pointwise_gini
from advex.evaluation.images import EvalImages
from advex.evaluation.report import EvaluationPlan, evaluate_model, read_evaluation
from advex.experiments.image_eval import table1_from_models
from advex.metrics.gini import gini
from advex.models.io import save_model
from advex.zoo import resolve_model
from advex.zoo.catalogue import load_eval_images

ROW_KEYS = {"dataset", "attr", "model", "eps", "lam", "accuracy", "mean_gini", "dG", "dG_ci95", "acc_drop",
            "mean_gini_ci95", "n_images", "reference", "output"}


def _images(n=16, n_train=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 28, 28, generator=generator).numpy()
    y = torch.randint(0, 10, (n,), generator=generator).numpy()
    X_train = torch.rand(n_train, 1, 28, 28, generator=generator).numpy()
    return EvalImages("mnist", X, y, "test set", X_train, "synthetic training images")


@pytest.mark.parametrize("reference", ["black", "train-sample"])
def test_pointwise_gini_equals_gini_of_the_explained_maps(reference):
    model, images = confident_cnn(0), _images()
    indices = images.choose(5, seed=1)
    plan = AttributionPlan(reference=reference, k=4)
    points = pointwise_gini(model, images, indices, plan, chunk=2)
    X, y = images.X[indices], images.y[indices]
    for method in ("ig", "deepshap"):
        maps = explain(model, X, y, method=method, reference=reference, X_train=images.X_train, k=4)
        np.testing.assert_allclose(points.gini[method], gini(maps), atol=1e-6)
    assert np.all((points.gini["ig"] > 0) & (points.gini["ig"] < 1))
    np.testing.assert_array_equal(points.labels, images.y[indices])
    assert points.ig_gap.shape == (5,) and np.all(points.ig_gap < 0.02)


def test_choose_is_seeded_and_skips_reserved_rows():
    images = _images(n=20)
    images.reserved = np.arange(10)
    first = images.choose(6, seed=3)
    np.testing.assert_array_equal(first, images.choose(6, seed=3))
    assert first.min() >= 10 and len(set(first)) == 6
    assert len(images.choose(100, seed=0)) == 10
    with pytest.raises(AdvexError):
        images.choose(0)


def test_table1_rows_from_models_follow_eqs_19_to_22():
    images = _images(n=12)
    models = {key: (confident_cnn(seed), {"dataset": "mnist"}, f"mnist/{key}") for key, seed in (("n", 0), ("l", 1), ("a", 2))}
    rows, points = table1_from_models(models, images, AttributionPlan(), n_images=4, seed=0)
    assert len(rows) == 6 and {row["attr"] for row in rows} == {"IG", "SHAP"}
    method_of = {"IG": "ig", "SHAP": "deepshap"}
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["n_images"] == 4 and row["reference"] == "black" and row["output"] == "probability"
        natural = next(r for r in rows if r["attr"] == row["attr"] and r["model"] == "n")
        assert row["dG"] == pytest.approx(row["mean_gini"] - natural["mean_gini"])
        assert row["acc_drop"] == pytest.approx(natural["accuracy"] - row["accuracy"])
        per_image = points[row["model"]].gini[method_of[row["attr"]]]
        assert row["mean_gini"] == pytest.approx(per_image.mean())
        if row["model"] != "n":  # paired CI of eqs. 19-20 from the per-image differences
            diff = per_image - points["n"].gini[method_of[row["attr"]]]
            assert row["dG_ci95"] == pytest.approx(1.96 * diff.std(ddof=1) / np.sqrt(len(diff)))
        assert row["accuracy"] == pytest.approx(clean_accuracy(models[row["model"]][0], images.X, images.y))
    assert all(row["dG"] == 0 and row["acc_drop"] == 0 for row in rows if row["model"] == "n")
    a_row = next(row for row in rows if row["model"] == "a")
    assert (a_row["eps"], a_row["lam"]) == (0.3, 0.0)
    np.testing.assert_array_equal(points["n"].indices, points["a"].indices)


def test_evaluate_model_reports_completeness_and_robust_accuracy_at_both_eps():
    model, images = confident_cnn(4), _images(n=10)
    plan = EvaluationPlan(gini_images=3, robust_images=4)
    evaluation = evaluate_model(model, images, model_eps=0.1, plan=plan)
    robust = evaluation.metrics["robust_accuracy"]
    assert [(r["attack"], r["eps"], r["n_images"]) for r in robust] == [("pgd", 0.1, 4), ("pgd", 0.3, 4)]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in robust)
    gini_entry = evaluation.metrics["gini"]
    assert gini_entry["reference"] == "black" and gini_entry["n_images"] == 3
    assert gini_entry["ig"] == pytest.approx(evaluation.pointwise.gini["ig"].mean())
    assert evaluation.pointwise.ig_gap.shape == (3,)


def test_evaluate_cli_end_to_end_on_idx_files(tmp_path):
    data_dir = write_fake_mnist(tmp_path / "data")
    stem = tmp_path / "models" / "adv_0.3"
    save_model(confident_cnn(5), stem, {"dataset": "mnist", "mode": "adv", "eps": 0.3, "lam": 0.0})
    out = tmp_path / "results"
    result = CliRunner().invoke(
        app, ["evaluate", str(stem) + ".safetensors", "--n-images", "3", "--n-robust", "4", "--reference", "mean",
              "--out", str(out), "--data-dir", str(data_dir)],
    )
    assert result.exit_code == 0, result.output
    assert "mean Gini ig" in result.output and "robust accuracy" in result.output
    evaluation = read_evaluation(out / "mnist" / "adv_0.3.eval.json")
    report = evaluation.metrics
    assert report["model"] == str(stem) and report["gini"]["n_images"] == 3 and report["gini"]["reference"] == "mean"
    images = load_eval_images("mnist", data_dir=data_dir)
    assert report["accuracy_on"] == "test set (12 images)"
    assert report["clean_accuracy"] == pytest.approx(clean_accuracy(resolve_model(str(stem))[0], images.X, images.y))
    assert len(evaluation.pointwise.gini["deepshap"]) == 3
    json.dumps(report)


def test_evaluate_cli_refuses_bad_choices_before_any_work(tmp_path):
    for args in (["--reference", "grey"], ["--output", "odds"], ["--n-images", "0"], ["--attack", "fgsm"]):
        result = CliRunner().invoke(app, ["evaluate", "mnist/natural", *args, "--out", str(tmp_path)])
        assert result.exit_code != 0
        assert "Traceback" not in result.output


def test_resolve_model_names_the_fix_for_unknown_models(tmp_path):
    with pytest.raises(ModelFileError, match="zoo id"):
        resolve_model(str(tmp_path / "nothing"))


def test_without_data_the_zoo_sample_is_the_pool_and_its_reserved_half_the_training_images(tmp_path, monkeypatch):
    from advex.zoo.build import write_sample

    generator = torch.Generator().manual_seed(0)
    X = torch.rand(200, 1, 28, 28, generator=generator).numpy()
    y = np.repeat(np.arange(10), 20)
    write_sample("mnist", X, y, tmp_path / "zoo")
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADVEX_DATA_DIR", raising=False)
    images = load_eval_images("mnist", data_dir=tmp_path / "no-data")
    assert images.pool == "zoo sample" and len(images.y) == 200
    assert len(images.X_train) == 100 and len(images.reserved) == 100
    chosen = images.choose(150)
    assert len(chosen) == 100 and not set(chosen) & set(images.reserved)
    np.testing.assert_allclose(images.X_train, images.X[images.reserved])
    np.testing.assert_allclose(images.X, np.rint(X * 255) / 255, atol=1e-6)  # the sample stores uint8 pixels


def test_without_data_or_zoo_sample_the_data_error_says_how_to_fetch(tmp_path, monkeypatch):
    from advex.errors import DataMissingError

    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADVEX_DATA_DIR", raising=False)
    with pytest.raises(DataMissingError, match="advex data fetch"):
        load_eval_images("mnist", data_dir=tmp_path / "no-data")
