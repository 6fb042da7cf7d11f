"""AppTest of the Saliency page on a tiny zoo: maps and Ginis, eps moves the numbers, uploads, bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import open_app_page, tiny_model
from PIL import Image
from streamlit.testing.v1 import AppTest

PAGE = "pages/2_Saliency_maps.py"


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, params)


def ginis(at: AppTest) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_three_models_side_by_side_with_gini_and_probability(tiny_zoo):
    at = open_page()
    assert not at.exception and not at.error
    values = ginis(at)
    assert list(values) == ["Gini, natural", "Gini, l1-regularized lambda=0.01", "Gini, adversarial eps=0.3"]
    assert all(0 < v < 1 for v in values.values())
    assert len(at.get("plotly_chart")) == 1


def test_eps_slider_swaps_the_adversarial_model_and_its_gini(tiny_zoo):
    at = open_page()
    before = ginis(at)
    at.select_slider(key="zoo_eps").set_value("0.1").run()
    after = ginis(at)
    assert "Gini, adversarial eps=0.1" in after
    assert after["Gini, adversarial eps=0.1"] != before["Gini, adversarial eps=0.3"]
    assert after["Gini, natural"] == before["Gini, natural"]


def test_test_image_from_the_link_and_class_navigation(tiny_zoo):
    at = open_page(image=13, pick="class")
    assert at.number_input(key="image").value == 13
    at.selectbox(key="pick_class").set_value(4).run()
    at.button[0].click().run()
    assert at.number_input(key="image").value == 14  # the sample's labels are index % 10
    assert not at.exception


def test_misclassified_pick_lists_mistakes(tiny_zoo):
    at = open_page(pick="misclassified")
    assert not at.exception
    options = at.selectbox(key="wrong_pick").options
    assert len(options) > 0 and options[0].startswith("#")


def test_gallery_and_deepshap(tiny_zoo):
    at = open_page(source="gallery", n=3, method="SHAP")
    assert not at.exception and not at.error
    assert all(label.startswith("mean Gini") for label in ginis(at))
    table = at.get("plotly_chart")
    assert len(table) == 1


def test_keep_top_mass_reports_the_share_of_pixels(tiny_zoo):
    at = open_page(keep=50)
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Pixels needed for 50%"))
    assert caption.count("%") == 4


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_is_converted_previewed_and_explained(tiny_zoo):
    at = open_page(source="upload")
    picture = np.full((64, 64), 255, dtype=np.uint8)
    picture[16:48, 30:34] = 0
    at.file_uploader(key="upload").upload("one.png", png(picture), "image/png").run()
    assert not at.exception and not at.error
    assert len(at.image) == 1  # the visible preview of the converted input
    assert len(ginis(at)) == 3


def test_an_upload_that_is_not_an_image_is_a_message(tiny_zoo):
    at = open_page(source="upload")
    at.file_uploader(key="upload").upload("paper.png", b"%PDF-1.4 not an image", "image/png").run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)


def test_a_corrupt_user_model_is_reported_and_the_others_still_show(tiny_zoo):
    from advex.models.io import save_model
    from advex.zoo import user_models_dir

    stem = user_models_dir() / "mnist" / "adv_0.2"
    weights = save_model(tiny_model(5), stem, {"name": "adv_0.2", "dataset": "mnist", "mode": "adv", "eps": 0.2})
    Path(weights).write_bytes(b"garbage" * 100)
    at = open_page(zoo_eps="0.2")
    assert not at.exception
    assert any("adversarial eps=0.2 (yours)" in e.value and "corrupt" in e.value for e in at.error)
    assert set(ginis(at)) == {"Gini, natural", "Gini, l1-regularized lambda=0.01"}


def test_impossible_eps_in_the_link_is_a_warning(tiny_zoo):
    at = open_page(zoo_eps="7")
    assert not at.exception
    assert any("`zoo_eps` was ignored" in w.value for w in at.warning)
    assert len(ginis(at)) == 3


def test_no_models_explains_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "empty-zoo"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page()
    assert not at.exception
    assert any("advex zoo build" in i.value for i in at.info)


@pytest.mark.parametrize("value", ["Saliency", "InputXGradient", "SmoothGrad", "GradientSHAP", "DeepLIFT"])
def test_every_explainer_from_the_link_shows_the_library_s_gini(tiny_zoo, value):
    """The Beyond-the-paper page links here with ?method=<value>; the page's Gini is that of advex.explain's map."""
    from advex.attribution import explain
    from advex.dashboard.saliency import METHOD_NAMES
    from advex.metrics.gini import gini
    from advex.zoo.catalogue import load_eval_images, load_zoo_model

    at = open_page(method=value, image=3)
    assert not at.exception and not at.error
    assert at.selectbox(key="method").value == value
    pool = load_eval_images("mnist")
    model, _ = load_zoo_model("mnist", "natural")
    maps = explain(model, pool.X[3:4], pool.y[3:4], method=METHOD_NAMES[value])
    assert ginis(at)["Gini, natural"] == pytest.approx(float(gini(maps)[0]), abs=5e-4)  # the metric shows 3 decimals
    table = at.get("plotly_chart")
    assert len(table) == 1


def test_the_paper_s_link_values_still_work_and_a_wrong_one_is_a_warning(tiny_zoo):
    for value in ("IG", "SHAP"):
        at = open_page(method=value)
        assert not at.exception and not at.error and at.selectbox(key="method").value == value
    at = open_page(method="LIME")
    assert not at.exception
    assert any("`method` was ignored" in w.value for w in at.warning)
    assert at.selectbox(key="method").value == "IG"
