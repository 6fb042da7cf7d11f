"""Figures 2 and 3 and the saliency grids: data frames, renderers, files, and `advex figures` end to end."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import confident_cnn, require_dataset, write_fake_mnist
from typer.testing import CliRunner

from advex.cli import app
from advex.experiments import figures as fig
from advex.metrics.gini import gini
from advex.models.io import save_model


def test_dG_frame_is_pointwise_difference_to_natural():
    ginis = {"n": {"IG": np.array([0.5, 0.6]), "SHAP": np.array([0.4, 0.4])},
             "a": {"IG": np.array([0.7, 0.65]), "SHAP": np.array([0.5, 0.6])},
             "l": {"IG": np.array([0.5, 0.61]), "SHAP": np.array([0.41, 0.39])}}
    frame = fig.dG_frame("mnist", ginis, eps=0.3, lam=0.01)
    a_ig = frame[(frame.family == "a") & (frame.attr == "IG")]
    np.testing.assert_allclose(a_ig["dG"], [0.2, 0.05])
    assert set(frame["setting"]) == {"a (eps=0.3)", "l (lam=0.01)"}
    assert len(frame) == 8
    plotly_fig = fig.figure2_plotly(frame)
    assert len(plotly_fig.data) == 2  # one box trace per family, grouped by method
    assert sorted(plotly_fig.data[0].y) == sorted(frame[frame.family == "a"]["dG"])
    fig.figure2_matplotlib(frame)
    two_panels = fig.figure2_plotly(pd.concat([frame, frame.assign(dataset="fashion-mnist")]))
    legend = [trace.name for trace in two_panels.data if trace.showlegend]
    assert sorted(legend) == ["adversarial: a (eps=0.3)", "l1-regularized: l (lam=0.01)"]  # each setting once


def test_zoo_tradeoff_frame_builds_the_papers_four_lines():
    cards = [
        {"dataset": "mnist", "name": "natural", "mode": "natural", "eps": 0, "lam": 0, "clean_accuracy": 0.99,
         "gini": {"ig": 0.60, "deepshap": 0.62}},
        {"dataset": "mnist", "name": "adv_0.3", "mode": "adv", "eps": 0.3, "lam": 0, "clean_accuracy": 0.98,
         "gini": {"ig": 0.70, "deepshap": 0.75}},
        {"dataset": "mnist", "name": "adv_0.1", "mode": "adv", "eps": 0.1, "lam": 0, "clean_accuracy": 0.985,
         "gini": {"ig": 0.65, "deepshap": 0.68}},
        {"dataset": "mnist", "name": "l1_0.01", "mode": "l1", "eps": 0, "lam": 0.01, "clean_accuracy": 0.97,
         "gini": {"ig": 0.61, "deepshap": "error"}},
        {"dataset": "mnist", "name": "broken", "mode": "adv", "eps": 0.2},  # no metrics: left out
    ]
    frame = fig.zoo_tradeoff_frame(cards)
    assert set(frame["line"]) == {"A[IG]", "A[SH]", "L[IG]", "L[SH]"}
    a_ig = frame[frame.line == "A[IG]"]
    assert list(a_ig["param"]) == [0.0, 0.1, 0.3] and list(a_ig["mean_gini"]) == [0.60, 0.65, 0.70]
    assert list(frame[frame.line == "L[SH]"]["model"]) == ["natural"]  # the l1 model's SHAP Gini was not a number
    plotly_fig = fig.figure3_plotly(frame)
    assert {trace.legendgroup for trace in plotly_fig.data} == {"A[IG]", "A[SH]", "L[IG]", "L[SH]"}
    fig.figure3_matplotlib(frame)


def test_saliency_grid_titles_carry_each_maps_gini(tmp_path):
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(30, 1, 28, 28, generator=generator).numpy()
    y = torch.randint(0, 10, (30,), generator=generator).numpy()
    models = {"natural": confident_cnn(0), "adversarial": confident_cnn(1)}
    chosen = fig.pick_confident_examples(models, X, y, 2, seed=0, min_probability=0.99)
    assert len(chosen) == 2 and len(set(chosen)) == 2
    examples = fig.saliency_examples(models, X, y, chosen, "ig")
    for title, maps in examples.maps.items():
        np.testing.assert_allclose(examples.ginis[title], gini(maps.reshape(2, -1)))
    plotly_fig = fig.saliency_plotly(examples)
    titles = [a.text for a in plotly_fig.layout.annotations]
    assert f"natural: Gini {examples.ginis['natural'][1]:.3f}" in titles
    static = fig.saliency_matplotlib(examples)
    paths = fig.write_figure(plotly_fig, static, tmp_path, "grid")
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cdn.plot.ly" in paths[1].read_text()


def test_pick_confident_examples_prefers_images_all_models_get_right():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return self.logits[x[:, 0, 0, 0].long()]

    X = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    y = np.array([0, 1, 0, 1, 0, 1])
    confident = torch.full((6, 2), -10.0)
    confident[torch.arange(6), torch.as_tensor(y)] = 10.0
    unsure = confident.clone()
    unsure[[0, 1, 2]] = 0.0  # images 0-2: probability 0.5 for the second model
    chosen = fig.pick_confident_examples({"a": Fixed(confident), "b": Fixed(unsure)}, X, y, 3)
    assert sorted(chosen) == [3, 4, 5]


def _fake_zoo(root):
    cards = {
        "natural": ({"mode": "natural", "eps": 0.0, "lam": 0.0}, 0.99, (0.6, 0.62)),
        "l1_0.01": ({"mode": "l1", "eps": 0.0, "lam": 0.01}, 0.98, (0.61, 0.63)),
        "adv_0.3": ({"mode": "adv", "eps": 0.3, "lam": 0.0}, 0.985, (0.7, 0.72)),
    }
    for seed, (name, (card, accuracy, (g_ig, g_shap))) in enumerate(cards.items()):
        save_model(confident_cnn(seed), root / "mnist" / name, {"name": name, "dataset": "mnist", **card,
                                                     "clean_accuracy": accuracy, "gini": {"ig": g_ig, "deepshap": g_shap}})


def test_figures_cli_end_to_end_on_a_fake_zoo(tmp_path, monkeypatch):
    data_dir = write_fake_mnist(tmp_path / "data", n_train=30, n_test=14)
    _fake_zoo(tmp_path / "zoo")
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "zoo"))
    out, results = tmp_path / "figures", tmp_path / "results"
    args = ["figures", "--datasets", "mnist", "--n-images", "3", "--examples", "2", "--out", str(out),
            "--results", str(results), "--data-dir", str(data_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = {f"{name}.{ext}" for name in ("figure2", "figure3", "saliency_mnist_IG", "saliency_mnist_SHAP")
                for ext in ("png", "html")}
    assert expected <= {p.name for p in out.iterdir()}
    cached = sorted(p.name for p in (results / "mnist").iterdir())
    assert cached == ["adv_0.3.eval.json", "l1_0.01.eval.json", "natural.eval.json"]
    stamp = {p.name: p.stat().st_mtime_ns for p in (results / "mnist").iterdir()}
    again = CliRunner().invoke(app, args[:-2] + ["--only", "fig2", "--data-dir", str(data_dir)])
    assert again.exit_code == 0, again.output
    assert stamp == {p.name: p.stat().st_mtime_ns for p in (results / "mnist").iterdir()}  # reused, not recomputed


def test_figures_cli_rejects_unknown_parts():
    result = CliRunner().invoke(app, ["figures", "--only", "fig9"])
    assert result.exit_code != 0 and "fig9" in str(result.exception)


def test_tabular_figure_parts_on_real_spambase(data_dir):
    require_dataset(data_dir, "spambase")
    frame = fig.tabular_tradeoff_frame("spambase", [0.1], [0.02], data_dir=data_dir)
    assert set(frame["line"]) == {"A[IG]", "L[IG]"}
    assert frame["accuracy"].between(0.8, 1.0).all() and frame["mean_gini"].between(0, 1).all()
    dG, _ = fig.tabular_figure_parts("spambase", ("fig2",), data_dir, 0)
    assert set(dG["attr"]) == {"IG"} and set(dG["family"]) == {"a", "l"}
    a_point = frame[(frame.family == "a") & (frame.param == 0.1)]["mean_gini"].item()
    natural = frame[(frame.family == "a") & (frame.param == 0.0)]["mean_gini"].item()
    assert dG[dG.family == "a"]["dG"].mean() == pytest.approx(a_point - natural, abs=1e-9)  # eq. 21 = mean of eq. 19
