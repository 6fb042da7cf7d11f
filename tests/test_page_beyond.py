"""AppTest of the Beyond-the-paper page: the heatmap and the precision chart show the library's numbers, and each
explainer links to its saliency maps."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from conftest import charts, open_app_page, values
from streamlit.testing.v1 import AppTest

from advex.attribution.methods import METHOD_LABELS
from advex.dashboard import beyond
from advex.data.synthetic import make_synthetic
from advex.experiments.beyond import BeyondGrid, cells_of, ground_truth, run_beyond
from advex.metrics.measures import MEASURE_NAMES

PAGE = "pages/7_Beyond_the_paper.py"
METHODS = ("ig", "saliency")


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, params)


@pytest.fixture()
def shipped(tiny_zoo):
    """Results of the library on the tiny zoo's MNIST sample and a small synthetic set, shipped beside the zoo."""
    rows = run_beyond(BeyondGrid(datasets=("mnist",), methods=METHODS, n_images=4))
    rows += ground_truth(METHODS, (0.0, 0.1, 0.3), data=make_synthetic(n_samples=300, seed=1))
    beyond.shipped_path().write_text(json.dumps(rows))
    return rows


def gains(rows: list[dict], key: str) -> dict[tuple[str, str], float]:
    return {(cell[key]["method"], cell[key]["measure"]): cell[key]["improvement"] for cell in cells_of(rows)}


def test_the_heatmap_shows_the_gains_of_a_and_of_l(shipped):
    at = open_page()
    assert not at.exception and not at.error
    for key in ("a", "l"):
        if key == "l":
            at.radio(key="beyond_model").set_value("l").run()
        heatmap = next(spec for title, spec in charts(at).items() if title.startswith(f"Gain in sparseness of {key}"))
        trace = heatmap["data"][0]
        assert trace["type"] == "heatmap" and trace["name"] == "mnist" and list(trace["x"]) == list(MEASURE_NAMES)
        assert [tick.split(">")[1].split("<")[0] for tick in trace["y"]] == [METHOD_LABELS[m] for m in METHODS]
        expected = gains(shipped, key)
        for method, row in zip(METHODS, trace["z"]):
            shown = values(row)
            assert shown == pytest.approx([expected[(method, measure)] for measure in MEASURE_NAMES], abs=1e-12)
    linked = open_page(beyond_model="l")  # the choice travels in the URL
    assert any(title.startswith("Gain in sparseness of l") for title in charts(linked))


def test_each_explainer_links_to_its_saliency_maps(shipped):
    at = open_page()
    links = [link.proto for link in at.main.get("page_link")]
    assert [link.label for link in links] == [METHOD_LABELS[m] for m in METHODS]
    assert all(link.page == "Saliency_maps" for link in links)
    assert [parse_qs(link.query_string) for link in links] == [{"method": ["IG"], "images": ["mnist"]},
                                                               {"method": ["Saliency"], "images": ["mnist"]}]
    ticks = next(iter(charts(at).values()))["data"][0]["y"]
    assert 'href="Saliency_maps?method=IG&amp;images=mnist"' in ticks[0] or 'href="Saliency_maps?method=IG&images=mnist"' in ticks[0]


def test_the_table_and_the_reading_match_the_rows(shipped):
    at = open_page()
    table = at.dataframe[0].value.set_index(["method", "measure"])
    cell = next(c for c in cells_of(shipped) if (c["a"]["method"], c["a"]["measure"]) == ("ig", "gini"))
    shown = table.loc[(METHOD_LABELS["ig"], "Gini index")]
    assert shown["gain a"] == pytest.approx(cell["a"]["improvement"]) and shown["a ± (95% CI)"] == pytest.approx(
        cell["a"]["improvement_ci95"])
    assert shown["n"] == pytest.approx(cell["n"]["value"])
    assert any("mnist: a sparser than n in" in m.value and "of 12" in m.value for m in at.markdown)


def test_precision_at_k_against_eps_is_the_library_s(shipped):
    at = open_page()
    chart = next(spec for title, spec in charts(at).items() if title.startswith("Concise and correct?"))
    lines = {trace["name"]: trace for trace in chart["data"] if trace.get("showlegend", True) is not False}
    for method in METHODS:
        truth = [row for row in shipped if row["table"] == "ground_truth" and row["method"] == method]
        path = sorted((row["eps"], row["value"]) for row in truth if row["model"] in ("n", "a"))
        trace = lines[METHOD_LABELS[method]]
        assert values(trace["x"]) == [eps for eps, _ in path] == [0.0, 0.1, 0.3]
        assert values(trace["y"]) == pytest.approx([value for _, value in path])
    table = at.dataframe[1].value
    assert list(table.columns) == ["n (eps 0)", "l (l1_0.02)", "a (adv_0.1)", "a (adv_0.3)"]


def test_no_results_says_how_to_make_them(tiny_zoo):
    at = open_page()
    assert not at.exception
    assert any("advex beyond --json" in i.value for i in at.info)


def test_a_broken_results_file_is_a_message(tiny_zoo):
    beyond.shipped_path().write_text(json.dumps([{"table": "sparseness", "dataset": "mnist", "method": "lime"}]))
    at = open_page()
    assert not at.exception
    assert any("row 0" in e.value and "method 'lime'" in e.value for e in at.error)
    beyond.shipped_path().write_text("[{")
    at = open_page()
    assert not at.exception and any("not a JSON file" in e.value for e in at.error)


def test_a_bad_link_value_is_a_warning(shipped):
    at = open_page(beyond_model="x")
    assert not at.exception
    assert any("`beyond_model` was ignored" in w.value for w in at.warning)
