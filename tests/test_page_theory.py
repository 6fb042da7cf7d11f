"""AppTest of the Theory page: renders without errors, widgets change the numbers, identities hold on screen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import values
from streamlit.testing.v1 import AppTest

from advex.dashboard import theory_view
from advex.data.feat_trans import graded_multiclass_distribution
from advex.losses import LOGISTIC
from advex.theory.multiclass import exact_multiclass_update

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "5_Theory.py")


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return values[0]


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    return at


def test_page_renders_every_section(page):
    assert not page.exception and not page.error
    headers = [h.value for h in page.header]
    assert any("Theorem 3.1" in h for h in headers) and any("Lemma 4.1" in h for h in headers)
    assert any("Theorem 5.1" in h for h in headers) and any("trajectories" in h for h in headers)
    assert any("Theorem E.1" in h for h in headers)
    assert len(page.get("plotly_chart")) >= 6
    assert any("Reading (Appendix D.2)" in m.value for m in page.markdown)


def test_eps_slider_changes_the_group_update_and_keeps_the_bound(page):
    before = float(metric(page, "Delta_S^w at this eps"))
    page.slider(key="t31_eps").set_value(0.6).run()
    assert not page.exception and not page.error
    after = float(metric(page, "Delta_S^w at this eps"))
    bound = float(metric(page, "bound g'bar (a_S^w - eps)  (eq. 12)"))
    assert after != before and after <= bound + 1e-4  # eq. 12 (shown rounded to 4 decimals)


def test_zero_weights_show_the_grow_regime_and_no_group_average(page):
    page.selectbox(key="t31_weights").set_value("zero").run()
    assert not page.exception and not page.error
    assert metric(page, "a_S^w (eq. 6)").startswith("undefined")
    assert any("have zero weight" in m.value for m in page.markdown)
    page.selectbox(key="t31_weights").set_value("small").run()


def test_non_gaussian_family_uses_monte_carlo(page):
    page.selectbox(key="t31_family").set_value("bernoulli").run()
    assert not page.exception and not page.error
    assert float(metric(page, "g'bar = E g'(eps||w||_1 - y<w,x>)  (eq. 10)")) > 0
    page.selectbox(key="t31_family").set_value("gaussian").run()


def test_adversarial_run_prunes_weak_weights_on_screen(page):
    page.slider(key="traj_eps").set_value(0.3).run()
    natural = float(metric(page, "mean |w| of weak features, natural"))
    adversarial = float(metric(page, "... adversarial"))
    assert adversarial < natural


def test_lemma_41_and_theorem_51_panels_show_matching_sides(page):
    page.slider(key="l41_d").set_value(12).run()
    page.slider(key="t51_d").set_value(9).run()
    assert not page.exception and not page.error
    assert metric(page, "F(x) - F(u)") == metric(page, "sum of IG (completeness)")
    assert float(metric(page, "max |closed form - numerical|")) < 1e-6
    left = metric(page, "stable-IG loss (left of eq. 18)")
    assert left == metric(page, "adversarial loss (right of eq. 18)")
    page.number_input(key="t51_seed").set_value(5).run()
    assert metric(page, "stable-IG loss (left of eq. 18)") != left


def test_bad_url_value_is_a_warning_not_a_crash():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["t31_eps"] = "7"
    at.run()
    assert not at.exception
    assert any("t31_eps" in w.value for w in at.warning)


def e1_chart(at: AppTest) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"]["title"]["text"].startswith("Expected update of each feature's own weight"):
            return spec
    raise AssertionError("no Theorem E.1 chart on the page")


def set_e1(at: AppTest, classes: int, eps: float, weights: str) -> None:
    at.selectbox(key="t31_loss").set_value("logistic")
    at.selectbox(key="t31_family").set_value("gaussian")
    at.slider(key="e1_classes").set_value(classes)
    at.slider(key="e1_eps").set_value(eps)
    at.radio(key="e1_weights").set_value(weights).run()
    assert not at.exception and not at.error


def test_theorem_e1_chart_and_metrics_are_the_exact_library_numbers(page):
    """Own features, gaussian: the page's bars and bounds equal exact_multiclass_update (eqs. E.50, E.62) feature by feature."""
    set_e1(page, 4, 0.4, "own")
    dist = graded_multiclass_distribution(4, 1, 2, 1.0, 0.1, "gaussian")
    W = theory_view.e1_weights(dist, "own", 0.05, 0)
    u = exact_multiclass_update(dist, W, 0.4, LOGISTIC)
    own = (dist.owners, np.arange(dist.d))
    spec = e1_chart(page)
    names = spec["layout"]["xaxis"]["categoryarray"]
    bars = {x: y for trace in spec["data"] if trace["type"] == "bar" for x, y in zip(values(trace["x"]), values(trace["y"]))}
    bound = next(trace for trace in spec["data"] if trace["type"] == "scatter")
    assert np.allclose([bars[name] for name in names], u.rate[own], atol=1e-12)
    assert values(bound["x"]) == names and np.allclose(values(bound["y"]), u.bound[own], atol=1e-12)
    case1 = (W[own] != 0)
    assert metric(page, "mean g'bar_i (eq. E.51)") == f"{u.g_prime_bar.mean():.4f}"
    assert metric(page, "max (rate - bound), Case I (eq. E.62)") == f"{np.max((u.rate - u.bound)[own][case1]):.4f}"
    assert float(metric(page, "max (rate - bound), Case I (eq. E.62)")) <= 0  # eq. E.62 holds
    assert metric(page, "max (rate - bound), shared features") == "-"


def test_theorem_e1_shared_features_exceed_the_case_1_bound_on_screen(page):
    set_e1(page, 3, 0.3, "shared")
    view = theory_view.theorem_e1_view(3, 0.3, 1.0, 0.1, 2, "shared", "logistic", "gaussian")
    excess, z = view.max_excess("shared")
    assert metric(page, "max (rate - bound), shared features") == f"{excess:.4f}" and excess > 0 and z > 4
    assert any(f"z = {z:.1f} for shared features" in c.value for c in page.caption)
    attacked = (view.kinds == "shared") & (view.weights != 0)
    share = metric(page, "points in Case I (eq. E.55), shared weights")
    assert share == f"{view.case1_share[attacked].mean():.0%}" and share != "100%"  # Case II on the rest
    set_e1(page, 3, 0.3, "own")


def test_bad_e1_url_value_is_a_warning_not_a_crash():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.query_params["e1_classes"] = "9"
    at.run()
    assert not at.exception
    assert any("e1_classes" in w.value for w in at.warning)
