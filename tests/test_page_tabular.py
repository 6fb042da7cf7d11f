"""AppTest of the Tabular explorer: renders, the eps slider retrains and changes the numbers, bad input is a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_dataset
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "1_Tabular_explorer.py")


def metrics(at: AppTest) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for metric in at.metric:
        values.setdefault(metric.label, []).append(metric.value)
    return values


def open_page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = str(value)
    return at.run()


def test_synthetic_page_renders_with_three_models():
    at = open_page(dataset="synthetic")
    assert not at.exception
    assert not at.error
    values = metrics(at)
    assert len(values["test accuracy"]) == 3 and len(values["mean Gini of IG"]) == 3
    assert [s.value for s in at.subheader][:3] == ["natural", "l1-regularized", "adversarial"]
    assert at.get("plotly_chart")


def test_eps_slider_raises_the_adversarial_gini_on_synthetic_data():
    """Theorem 3.1 / Figure 3: a larger eps prunes weak features, so G^a[IG] goes up (eps 0.02 -> 0.2)."""
    at = open_page(dataset="synthetic", eps=0.02)
    before = float(metrics(at)["mean Gini of IG"][2])
    natural_before = metrics(at)["mean Gini of IG"][0]
    at.slider(key="eps").set_value(0.2).run()
    assert not at.exception
    after = float(metrics(at)["mean Gini of IG"][2])
    assert after > before + 0.02
    assert metrics(at)["mean Gini of IG"][0] == natural_before  # the natural model does not depend on eps


def test_lambda_slider_changes_only_the_l1_model():
    at = open_page(dataset="synthetic")
    before = metrics(at)["mean Gini of IG"]
    at.slider(key="lam").set_value(0.06).run()
    after = metrics(at)["mean Gini of IG"]
    assert after[1] != before[1]
    assert after[0] == before[0] and after[2] == before[2]


def test_example_row_shows_its_ig_for_each_model():
    at = open_page(dataset="synthetic", row=5)
    assert not at.exception
    assert at.number_input(key="row").value == 5
    table = at.dataframe[0].value
    assert list(table.index) == ["natural", "l1-regularized", "adversarial"]
    assert ((table["Gini of IG"] >= 0) & (table["Gini of IG"] <= 1)).all()


def test_impossible_eps_in_the_link_is_a_warning_not_a_crash():
    at = open_page(dataset="synthetic", eps=7)
    assert not at.exception
    assert any("eps" in w.value and "outside" in w.value for w in at.warning)
    assert at.slider(key="eps").value == pytest.approx(0.1)


@pytest.mark.parametrize("junk", ["junk", "nan", "1e400", "-3"])
def test_junk_in_every_parameter_leaves_the_page_standing(junk):
    at = open_page(dataset=junk, eps=junk, lam=junk, row=junk)
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert all(f"`{name}`" in warned for name in ("dataset", "eps", "lam", "row"))
    assert not {"dataset", "eps", "lam", "row"} & set(at.query_params)  # dropped: a reload gets a clean link
    assert at.slider(key="eps").value == pytest.approx(0.1) and at.metric  # defaults, and the models still show


def test_without_real_data_the_page_opens_on_the_synthetic_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page()
    assert not at.exception and not at.error
    assert at.selectbox(key="dataset").value == "synthetic"
    assert len(at.metric) == 6  # accuracy and mean Gini of the three models


def test_missing_real_data_explains_the_fix_and_offers_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page(dataset="spambase")
    assert not at.exception
    assert any("advex data fetch spambase" in e.value for e in at.error)
    at.button[0].click().run()
    assert not at.exception
    assert at.selectbox(key="dataset").value == "synthetic"
    assert len(metrics(at)["mean Gini of IG"]) == 3


def test_mushroom_feature_impact_follows_figure_j4(data_dir):
    require_dataset(data_dir, "mushroom")
    at = open_page(dataset="mushroom", eps=0.1)
    assert not at.exception and not at.error
    values = metrics(at)
    assert float(values["mean Gini of IG"][2]) > float(values["mean Gini of IG"][0])


@pytest.mark.parametrize("dataset, eps, lam", [("synthetic", 0.15, 0.03)])
def test_page_shows_the_librarys_numbers_for_the_same_setting(dataset, eps, lam):
    """Every number on the page equals what the library computes for that data set, eps and lambda."""
    from advex.experiments.tabular import load_tabular_or_synthetic, run_tabular_comparison

    at = open_page(dataset=dataset, eps=eps, lam=lam)
    assert not at.exception and not at.error
    expected = run_tabular_comparison(load_tabular_or_synthetic(dataset), eps=eps, lam=lam)
    shown = {label: [m for m in at.metric if m.label == label] for label in ("test accuracy", "mean Gini of IG")}
    for metric, key in zip(shown["test accuracy"], "nla"):
        assert metric.value == f"{expected.results[key].accuracy:.1%}"
        if key != "n":
            assert metric.delta == f"{-expected.acc_drop[key]:+.1%}"
    for metric, key in zip(shown["mean Gini of IG"], "nla"):
        assert metric.value == f"{expected.results[key].mean_gini:.3f}"
        if key != "n":
            assert metric.delta == f"{expected.dG[key]:+.3f} (dG)"
    table = at.dataframe[0].value  # test row 0 under the three models
    for key, label in zip("nla", table.index):
        assert table.loc[label, "Gini of IG"] == pytest.approx(expected.results[key].gini[0])
