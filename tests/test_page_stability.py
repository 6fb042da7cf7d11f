"""AppTest of the Stability page: eq. 16 curves for tabular models, and the image attack on demand."""

from __future__ import annotations

from conftest import open_app_page
from streamlit.testing.v1 import AppTest

PAGE = "pages/6_Stability.py"


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, params, timeout=180)


def values(at: AppTest) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_tabular_curves_render_and_eps_moves_the_adversarial_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page(dataset="synthetic")
    assert not at.exception and not at.error
    before = values(at)
    assert set(before) == {f"{m} at eps = 0.3" for m in ("natural", "l1-regularized", "adversarial")}
    assert all(v > 0 for v in before.values())
    at.slider(key="eps").set_value(0.3).run()
    after = values(at)
    assert after["adversarial at eps = 0.3"] != before["adversarial at eps = 0.3"]
    assert after["natural at eps = 0.3"] == before["natural at eps = 0.3"]
    at.toggle(key="relative").set_value(True).run()
    assert not at.exception and values(at) != after


def test_image_attack_runs_on_demand(tiny_zoo):
    at = open_page(domain="images", attacked=1)
    assert not at.exception and not at.metric
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert len(values(at)) == 3 and all(v >= 0 for v in values(at).values())
