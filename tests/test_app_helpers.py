"""Dashboard helpers: shared cache, masks, uploads, URL checks, downloads, safe sections, tabular caching."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from advex.dashboard import downloads, url_state
from advex.dashboard.cache import SharedLRU
from advex.dashboard.saliency import misclassified, next_of_class, top_mass_mask
from advex.errors import AdvexError


def png_bytes(array: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


# --- SharedLRU ---------------------------------------------------------------------------------------------

def test_shared_lru_computes_once_for_concurrent_callers():
    cache: SharedLRU[int] = SharedLRU(max_entries=4)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8
    assert len(calls) == 1


def test_shared_lru_evicts_the_least_recently_used():
    cache: SharedLRU[str] = SharedLRU(max_entries=2)
    cache.get_or_compute("a", lambda: "A")
    cache.get_or_compute("b", lambda: "B")
    cache.get("a")  # a is now more recent than b
    cache.get_or_compute("c", lambda: "C")
    assert "a" in cache and "c" in cache and "b" not in cache
    assert len(cache) == 2


def test_shared_lru_does_not_cache_failures():
    cache: SharedLRU[int] = SharedLRU(max_entries=2)
    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get_or_compute("k", lambda: 7) == 7


# --- top-mass mask -----------------------------------------------------------------------------------------

def test_top_mass_mask_keeps_the_fewest_largest_entries():
    values = np.array([[0.5, -0.3], [0.1, 0.1]])  # total |mass| 1.0
    assert top_mass_mask(values, 0.5).tolist() == [[True, False], [False, False]]
    assert top_mass_mask(values, 0.8).tolist() == [[True, True], [False, False]]
    assert top_mass_mask(values, 0.81).sum() == 3
    assert top_mass_mask(values, 1.0).all()


def test_sparse_maps_need_fewer_pixels_for_the_same_mass():
    rng = np.random.default_rng(0)
    dense = rng.random((28, 28))
    sparse = np.zeros((28, 28))
    sparse[10:13, 10:13] = rng.random((3, 3)) + 1
    assert top_mass_mask(sparse, 0.9).sum() <= 9 < top_mass_mask(dense, 0.9).sum()


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_top_mass_mask_rejects_impossible_fractions(fraction):
    with pytest.raises(AdvexError):
        top_mass_mask(np.ones((2, 2)), fraction)


def test_picking_helpers():
    y = np.array([3, 1, 3, 2, 3])
    assert next_of_class(y, 3, after=0) == 2
    assert next_of_class(y, 3, after=4) == 0  # wraps around
    with pytest.raises(AdvexError):
        next_of_class(y, 9, after=0)
    assert misclassified({"n": np.array([3, 1, 0, 2, 3]), "a": np.array([3, 0, 3, 2, 3])}, y).tolist() == [1, 2]


# --- URL state ---------------------------------------------------------------------------------------------

def test_url_problems_name_the_allowed_values():
    assert url_state.float_param_problem("0.1", 0, 0.5) is None
    assert "outside" in url_state.float_param_problem("7", 0, 0.5)
    assert "not a number" in url_state.float_param_problem("abc", 0, 0.5)
    assert "outside" in url_state.float_param_problem("nan", 0, 0.5)
    assert url_state.choice_param_problem("mnist", ["mnist", "cifar10"]) is None
    assert "not one of" in url_state.choice_param_problem("imagenet", ["mnist", "cifar10"])
    assert "whole number" in url_state.int_param_problem("1.5", 0, 9)


# --- downloads ---------------------------------------------------------------------------------------------

def test_csv_download_round_trips():
    frame = pd.DataFrame({"feature": ["odor", "gill-size"], "FI": [0.2, 0.1]})
    assert pd.read_csv(io.BytesIO(downloads.csv_bytes(frame))).equals(frame)
    assert downloads.safe_file_stem("Feature impact: eps=0.1/lam 0.02") == "Feature_impact_eps_0.1_lam_0.02"


def test_figures_export_as_svg_and_png():
    if not downloads.image_export_available():
        pytest.skip("static export needs Chromium on this machine (Debian: apt-get install chromium)")
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    assert downloads.figure_bytes(fig, "svg").lstrip().startswith(b"<svg")
    assert downloads.figure_bytes(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"


# --- safe sections -----------------------------------------------------------------------------------------

def _page_with_failures():
    import streamlit as st

    from advex.dashboard.safe import safe_section
    from advex.errors import DataMissingError

    with safe_section("Data"):
        raise DataMissingError("data set 'x' not found; run `advex data fetch x`")
    with safe_section("Chart"):
        raise RuntimeError("internal detail that must not be shown")
    st.write("still rendering")


def test_safe_sections_show_messages_not_tracebacks():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page_with_failures).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[0] == "data set 'x' not found; run `advex data fetch x`"
    assert "Chart could not be shown (RuntimeError)" in errors[1] and "internal detail" not in errors[1]
    assert at.markdown[-1].value == "still rendering"


# --- tabular caching ---------------------------------------------------------------------------------------

def test_cached_comparison_equals_the_direct_computation():
    from advex.dashboard import tabular
    from advex.experiments.tabular import run_tabular_comparison

    data = tabular.dataset("synthetic")
    cached = tabular.comparison(data, eps=0.15, lam=0.03)
    direct = run_tabular_comparison(data, eps=0.15, lam=0.03)
    for key in ("n", "l", "a"):
        assert cached.results[key].accuracy == direct.results[key].accuracy
        np.testing.assert_array_equal(cached.results[key].ig, direct.results[key].ig)
    assert cached.dG == pytest.approx(direct.dG) and cached.acc_drop == pytest.approx(direct.acc_drop)
    # moving eps retrains only the adversarial model: the other two results are the same objects
    moved = tabular.comparison(data, eps=0.2, lam=0.03)
    assert moved.results["n"] is cached.results["n"] and moved.results["l"] is cached.results["l"]
    assert moved.results["a"] is not cached.results["a"]


def test_views_are_built_once_per_setting_and_match_the_comparison():
    from advex.dashboard import tabular
    from advex.experiments.tabular import feature_impact_frame

    data = tabular.dataset("synthetic")
    result = tabular.comparison(data, eps=0.12, lam=0.03)
    view = tabular.comparison_view(data, result)
    assert tabular.comparison_view(data, tabular.comparison(data, eps=0.12, lam=0.03)) is view  # shared
    assert tabular.comparison_view(data, tabular.comparison(data, eps=0.13, lam=0.03)) is not view
    assert tabular.comparison_view(data, result, presenting=True) is not view  # larger type, its own figure
    pd.testing.assert_frame_equal(view.feature_impact, feature_impact_frame(result))
    assert view.summary.loc["adversarial", "dG"] == pytest.approx(result.dG["a"])
    assert "eps = 0.12, lambda = 0.03" in view.feature_impact_figure.layout.title.text
    example = tabular.example_view(data, result, row=3)
    assert tabular.example_view(data, result, row=3) is example
    np.testing.assert_array_equal(example.ig["adversarial"].to_numpy(), result.results["a"].ig[3])
    assert example.summary.loc["natural", "Gini of IG"] == pytest.approx(result.results["n"].gini[3])


@pytest.mark.parametrize("eps, lam", [(-0.1, 0.01), (0.1, float("nan")), (3.0, 0.01)])
def test_impossible_tabular_settings_are_refused(eps, lam):
    from advex.dashboard import tabular

    with pytest.raises(AdvexError, match="choose a value between"):
        tabular.comparison(tabular.dataset("synthetic"), eps, lam)


def test_deepshap_leaves_the_shared_model_untouched():
    """shap hooks the modules it explains; the dashboard must run it on a private copy."""
    import torch

    from advex.dashboard.saliency import explain
    from advex.models.cnn import MadryCNN

    torch.manual_seed(0)
    model = MadryCNN(hidden=16).eval()
    keys = set(model.state_dict())
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    before = explain(model, x, np.array([1, 2]), "IG")
    X_train = np.random.default_rng(1).random((8, 1, 28, 28), dtype=np.float32)
    shap_maps = explain(model, x, np.array([1, 2]), "SHAP", reference="train-sample", X_train=X_train)
    assert set(model.state_dict()) == keys
    assert not any(hasattr(m, "x") or hasattr(m, "y") for m in model.modules())
    assert all(m._forward_hooks == {} and m._backward_hooks == {} for m in model.modules())
    after = explain(model, x, np.array([1, 2]), "IG")
    np.testing.assert_array_equal(before[0].attribution, after[0].attribution)
    assert shap_maps[0].attribution.shape == (1, 28, 28)


def test_warm_up_fills_the_shared_caches(tiny_zoo):
    from advex.dashboard import models, tabular
    from advex.dashboard.warmup import warm_up

    models.MODELS.clear()
    warm_up()
    assert tabular.is_cached(tabular.dataset("synthetic"), 0.1, 0.02)
    assert len(models.MODELS) == 3  # natural, l1 and adversarial of the tiny zoo


def test_feature_impact_bars_follow_the_natural_models_order_as_in_figure_j4():
    from advex.dashboard import tabular
    from advex.dashboard.plots import feature_impact_bars
    from advex.experiments.tabular import feature_impact_frame

    result = tabular.comparison(tabular.dataset("synthetic"), 0.1, 0.02)
    fig = feature_impact_bars(feature_impact_frame(result), "FI")
    natural = dict(zip(fig.data[0].x, fig.data[0].y))
    assert [trace.name for trace in fig.data] == ["natural", "l1-regularized", "adversarial"]
    assert list(fig.data[0].x) == sorted(natural, key=natural.get, reverse=True)
    expected = result.results["a"].feature_impact
    assert dict(zip(fig.data[2].x, fig.data[2].y)) == pytest.approx(expected.to_dict())


def test_saliency_grid_blanks_pixels_outside_the_mask_and_centres_signed_maps():
    from advex.dashboard.plots import saliency_grid

    image = np.zeros((1, 4, 4))
    maps = [[np.arange(16.0).reshape(4, 4) - 4, np.ones((4, 4))]]
    masks = [[top_mass_mask(maps[0][0], 0.5), np.ones((4, 4), dtype=bool)]]
    fig = saliency_grid([image], ["n", "a"], maps, [["n", "a"]], ["#0"], signed=True, overlay=False, masks=masks)
    first_map = np.array(fig.data[1].z, dtype=float)
    assert np.isnan(first_map[~masks[0][0]]).all() and not np.isnan(first_map[masks[0][0]]).any()
    assert fig.data[1].zmin == -fig.data[1].zmax == -11  # symmetric about 0, the row's largest |value|
