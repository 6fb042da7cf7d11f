"""AppTest of the Trade-offs page: Table 1 for a chosen reference and output, Figures 3 and 2, the robustness-sparseness
frontier and "How robust is the conclusion?", each checked against the library's own numbers."""

from __future__ import annotations

import json
import time

import pytest
from conftest import charts, open_app_page, require_dataset, save_user_model, synthetic_rows, values, write_rows
from streamlit.testing.v1 import AppTest

from advex.dashboard import conclusion

PAGE = "pages/4_Trade-offs.py"


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, {"n_images": 5, **params}, timeout=180)


def table1(at: AppTest):
    return at.dataframe[0].value.set_index(["attr", "model"])


def conclusion_chart(at: AppTest) -> dict:
    return next(spec for title, spec in charts(at).items() if title.startswith("How robust is the conclusion?"))


@pytest.fixture()
def shipped(tiny_zoo):
    rows = synthetic_rows(seed=2)
    write_rows(conclusion.shipped_path(), rows)
    return rows


def test_table1_uses_card_differences_and_prints_the_paper(tiny_zoo):
    at = open_page()
    assert not at.exception and not at.error
    table = table1(at)
    # tiny zoo cards (black reference, probability): natural IG Gini 0.5, adv_0.3 0.65; clean accuracy 0.10 vs 0.13
    row = table.loc[("IG", "a (eps=0.3)")]
    assert row["dG"] == pytest.approx(0.15) and row["AcDrop"] == pytest.approx(-0.03)
    assert row["dG (paper)"] == 0.06 and row["AcDrop (paper)"] == 0.008
    assert row["Gini from"].startswith("model cards") and row["reference"] == "black"
    assert table.loc[("SHAP", "l (lam=0.01)"), "dG"] == pytest.approx(0.04)
    assert any("mushroom" in c.value for c in at.caption)  # tabular data missing here: said so
    assert any("No ablation results here yet" in i.value for i in at.info)


def test_another_reference_takes_table1_from_the_ablation_results(shipped):
    at = open_page(reference="blur", output="logit")
    assert not at.exception and not at.error
    table = table1(at)
    for attr in ("IG", "SHAP"):
        for key, label in (("a", "a (eps=0.3)"), ("l", "l (lam=0.01)")):
            row = next(r for r in shipped if (r["attr"], r["reference"], r["output"], r["model"]) == (attr, "blur", "logit", key))
            shown = table.loc[(attr, label)]
            assert shown["dG"] == pytest.approx(row["dG"], abs=1e-12)
            assert shown["dG ± (95% CI)"] == pytest.approx(row["dG_ci95"])
            assert shown["Gini from"] == "ablation results (shipped, 20 images, zoo sample)"
            assert shown["accuracy from"] == "model cards"
    assert table.loc[("IG", "a (eps=0.3)"), "AcDrop"] == pytest.approx(-0.03)


def test_the_conclusion_section_shows_the_rows_and_counts_them(shipped):
    at = open_page()
    assert not at.exception and not at.error
    cells = {}
    for row in shipped:
        cells.setdefault((row["attr"], row["reference"], row["output"]), {})[row["model"]] = row
    ahead = sum(cell["a"]["dG"] > cell["l"]["dG"] for cell in cells.values())
    assert any(f"under **{ahead} of {len(cells)}** choices" in m.value for m in at.markdown)
    assert any(c.value.startswith("Ablation results shipped with the zoo: 20 images per cell") for c in at.caption)
    spec = conclusion_chart(at)
    panel = {trace["name"][0]: trace for trace in spec["data"] if trace.get("xaxis", "x") == "x"}  # MNIST, IG, probability
    assert panel["a"]["x"][0] == "black (paper)"
    for key in ("a", "l"):
        expected = [cells[("IG", reference, "probability")][key] for reference in conclusion.REFERENCES]
        assert values(panel[key]["y"]) == pytest.approx([r["dG"] for r in expected])
        assert values(panel[key]["error_y"]["array"]) == pytest.approx([r["dG_ci95"] for r in expected])


def test_bad_reference_and_output_in_the_link_are_dropped(shipped):
    at = open_page(reference="sepia", output="odds", fig3_y="sideways")
    assert not at.exception and not at.error
    ignored = " ".join(w.value for w in at.warning)
    assert "`reference` was ignored" in ignored and "`output` was ignored" in ignored and "`fig3_y` was ignored" in ignored
    assert set(table1(at)["reference"]) == {"black"} and set(table1(at)["output"]) == {"probability"}


def test_a_broken_results_file_is_a_message_and_the_rest_still_shows(tiny_zoo):
    conclusion.shipped_path().write_text("[{broken")
    at = open_page()
    assert not at.exception
    assert any("not a JSON file of ablation results" in e.value for e in at.error)
    assert table1(at).loc[("IG", "a (eps=0.3)"), "dG"] == pytest.approx(0.15)


def test_recompute_runs_in_the_background_and_replaces_the_view(shipped):
    at = open_page()
    at.multiselect(key="ablate_methods").set_value(["ig"])
    at.multiselect(key="ablate_references").set_value(["black", "uniform"])
    at.multiselect(key="ablate_outputs").set_value(["probability"])
    at.number_input(key="ablate_images").set_value(3)
    at.button(key="recompute").click().run()
    assert not at.exception and not at.error
    job = conclusion.latest_job()
    deadline = time.time() + 240
    while job.active and time.time() < deadline:
        time.sleep(0.2)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="ablation_source").value == "recomputed"
    assert any(c.value.startswith("Ablation results recomputed on this server") and "3 images per cell" in c.value
               for c in at.caption)
    fresh = json.loads((conclusion.recompute_dir() / conclusion.RESULTS_NAME).read_text())
    panel = {trace["name"][0]: trace for trace in conclusion_chart(at)["data"] if trace.get("xaxis", "x") == "x"}
    assert values(panel["a"]["x"]) == ["black (paper)", "uniform"]
    assert values(panel["a"]["y"]) == pytest.approx([r["dG"] for r in fresh if r["model"] == "a"])
    at.radio(key="ablation_source").set_value("shipped").run()
    assert any(c.value.startswith("Ablation results shipped") for c in at.caption)


def test_the_frontier_plots_robust_accuracy_and_lists_a_live_model_at_once(tiny_zoo):
    at = open_page(fig3_y="robust")
    assert not at.exception and not at.error
    before = charts(at)["The robustness-sparseness frontier: mean Gini vs robust accuracy"]
    assert sum(len(values(t["x"])) for t in before["data"] if t["mode"] == "markers") == 4
    assert any("PGD stands in for AutoAttack at 4 of 4 points" in c.value for c in at.caption)
    save_user_model("adv_0.3-live-5steps-y", "adv", 0.3, 0.0, [{"attack": "autoattack", "eps": 0.3, "accuracy": 0.7}],
                    {"ig": 0.9, "deepshap": 0.8, "reference": "black", "output": "probability"})
    at.run()
    after = charts(at)["The robustness-sparseness frontier: mean Gini vs robust accuracy"]
    hovers = [label for t in after["data"] if t["mode"] == "markers" for label in (row[0] for row in t["customdata"])]
    assert "adversarial eps=0.3 (yours)" in hovers
    assert any("PGD stands in for AutoAttack at 4 of 5 points" in c.value for c in at.caption)


def test_figures_3_and_2_are_drawn_and_the_slider_recomputes(tiny_zoo):
    at = open_page()
    assert len(at.get("plotly_chart")) == 2
    at.slider(key="n_images").set_value(10).run()
    assert not at.exception and len(at.get("plotly_chart")) == 2


def test_tabular_rows_are_trained_live_when_the_data_is_there(tmp_path, monkeypatch, data_dir):
    require_dataset(data_dir, "mushroom")
    monkeypatch.setenv("ADVEX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "no-zoo"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page()
    assert not at.exception
    table = at.dataframe[0].value.set_index(["dataset", "model"])
    mushroom = table.loc[("mushroom", "a (eps=0.1)")]
    assert mushroom["Gini from"] == "trained now" and mushroom["dG"] > 0


def test_figure3_tabular_curves_start_at_the_natural_model(data_dir, monkeypatch):
    require_dataset(data_dir, "spambase")
    from advex.dashboard import tradeoffs

    monkeypatch.setenv("ADVEX_DATA_DIR", str(data_dir))
    frame = tradeoffs.figure3_frame([], ["spambase"])
    assert set(frame["line"]) == {"A[IG]", "L[IG]"}
    for _, line in frame.groupby("line"):
        assert list(line["param"]) == sorted(line["param"]) and line["param"].iloc[0] == 0.0
    natural = frame[frame["param"] == 0.0]
    assert natural["mean_gini"].nunique() == 1  # one natural model starts both curves
    adversarial = frame[(frame["line"] == "A[IG]") & (frame["param"] == 0.1)]
    assert adversarial["mean_gini"].iloc[0] > natural["mean_gini"].iloc[0]  # Table 1: dG > 0 at eps = 0.1
