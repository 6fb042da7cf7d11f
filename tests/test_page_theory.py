"""AppTest of the Theory page: renders without errors, widgets change the numbers, identities hold on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

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
    assert len(page.get("plotly_chart")) >= 5
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
