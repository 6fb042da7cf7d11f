"""The Trade-offs page's library side: ablation results read and checked, a vs l per choice, the reading, the chart,
Table 1 for any reference, the robustness-sparseness frontier and the background recompute."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
from conftest import build_tiny_zoo, save_user_model, synthetic_rows, write_rows

from advex.dashboard import conclusion, models, tradeoffs
from advex.errors import AdvexError
from advex.evaluation.report import card_mean_gini, card_robust_accuracy
from advex.metrics.sparseness import verdict
from advex.vocabulary import OUTPUTS, PAPER_OUTPUT, PAPER_REFERENCE, REFERENCES


@pytest.fixture()
def shipped(tiny_zoo):
    """The tiny zoo with synthetic ablation results shipped beside it."""
    rows = synthetic_rows()
    write_rows(conclusion.shipped_path(), rows)
    return rows


# ---------------------------------------------------------------- reading a results file


@pytest.mark.parametrize("content, says", [
    ("not json", "not a JSON file"),
    ('{"rows": []}', "not a list"),
    ('[{"dataset": "mnist", "attr": "IG", "reference": "sepia"}]', "reference 'sepia'"),
    ('[1]', "row 0"),
])
def test_a_bad_results_file_is_one_clear_error(tmp_path, content, says):
    path = tmp_path / "ablation.json"
    path.write_text(content)
    with pytest.raises(AdvexError, match=says) as error:
        conclusion.read_rows(path)
    assert str(path) in str(error.value) and "advex ablate" in str(error.value)


def test_a_non_finite_dG_or_a_huge_file_is_refused(tmp_path, monkeypatch):
    rows = synthetic_rows()
    rows[1]["dG"] = float("nan")
    path = tmp_path / "ablation.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(AdvexError, match="row 1 .* dG nan"):
        conclusion.read_rows(path)
    monkeypatch.setattr(conclusion, "MAX_RESULTS_BYTES", 100)
    with pytest.raises(AdvexError, match="far more than ablation results"):
        conclusion.read_rows(path)


def test_a_missing_file_is_no_results(tiny_zoo):
    assert conclusion.available_sources() == []
    assert conclusion.results(conclusion.SHIPPED) is None


# ---------------------------------------------------------------- a vs l per choice


@pytest.mark.parametrize("a, ci_a, l_, ci_l, expected", [
    (0.06, 0.01, 0.01, 0.01, "a"), (0.01, 0.01, 0.06, 0.01, "l"), (0.03, 0.02, 0.01, 0.01, "overlap"),
    (0.06, math.nan, 0.01, 0.01, "overlap"),
])
def test_a_vs_l_needs_separated_intervals(a, ci_a, l_, ci_l, expected):
    assert verdict(a, ci_a, l_, ci_l) == expected


def test_cells_pair_the_a_and_l_rows_of_each_choice():
    rows = synthetic_rows()
    cells = conclusion.cells_frame(rows[1:] + [{**rows[4], "dG": 0.5}])  # the first cell lacks n; the last row wins
    assert len(cells) == 2 * len(REFERENCES) * len(OUTPUTS) - 1
    first = cells.iloc[0]
    assert (first.attr, first.reference, first.output) == ("IG", "black", "logit")
    assert first.dG_l == 0.5 and first.dG_a == rows[5]["dG"] and first.ci_a == rows[5]["dG_ci95"]
    assert first.verdict == verdict(rows[5]["dG"], rows[5]["dG_ci95"], 0.5, rows[4]["dG_ci95"])
    assert list(cells["reference"][cells["attr"] == "SHAP"][::2]) == list(REFERENCES)  # the vocabulary's order


def test_the_reading_counts_what_the_rows_say():
    rows = synthetic_rows(seed=3)
    by_cell = {}
    for row in rows:
        by_cell.setdefault((row["attr"], row["reference"], row["output"]), {})[row["model"]] = row
    ahead = sum(cell["a"]["dG"] > cell["l"]["dG"] for cell in by_cell.values())
    apart = sum(cell["a"]["dG"] - cell["a"]["dG_ci95"] > cell["l"]["dG"] + cell["l"]["dG_ci95"] for cell in by_cell.values())
    lines = conclusion.reading(conclusion.cells_frame(rows))
    assert f"under **{ahead} of {len(by_cell)}** choices" in lines[0] and f"under {apart} of them" in lines[0]
    ig = [cell for (attr, _, _), cell in by_cell.items() if attr == "IG"]
    ig_line = next(line for line in lines if line.startswith("MNIST, IG:"))
    assert f"a beats l under {sum(c['a']['dG'] > c['l']['dG'] for c in ig)} of {len(ig)} choices" in ig_line
    paper = by_cell[("IG", PAPER_REFERENCE, PAPER_OUTPUT)]
    assert f"dG a {paper['a']['dG']:.3f}" in ig_line


def test_the_chart_shows_each_rows_dG_and_ci_and_marks_the_paper():
    rows = synthetic_rows(seed=1)
    fig = conclusion.conclusion_plotly(conclusion.cells_frame(rows))
    assert len(fig.layout.annotations) == 4  # MNIST x (IG, DeepSHAP) x (probability, logit)
    assert fig.layout.annotations[0].text == "MNIST · IG · probability (paper)"
    first_a = fig.data[0]
    assert list(first_a.x) == ["black (paper)", *REFERENCES[1:]]
    expected = [r for r in rows if r["attr"] == "IG" and r["output"] == "probability" and r["model"] == "a"]
    assert list(first_a.y) == [r["dG"] for r in expected]
    assert list(first_a.error_y.array) == [r["dG_ci95"] for r in expected]
    assert len(fig.layout.shapes) == 2  # the paper's reference shaded in the two panels of the paper's output


def test_results_are_built_once_per_file_version(shipped):
    first = conclusion.results(conclusion.SHIPPED)
    assert conclusion.results(conclusion.SHIPPED) is first
    assert "shipped with the zoo: 20 images per cell from the zoo sample" in first.describe()
    time.sleep(0.01)
    write_rows(conclusion.shipped_path(), synthetic_rows(seed=5, n_images=30))
    second = conclusion.results(conclusion.SHIPPED)
    assert second is not first and "30 images per cell" in second.describe()


# ---------------------------------------------------------------- Table 1 for a chosen reference and output


def test_table1_takes_the_cards_for_their_choice_and_the_ablation_for_another(shipped):
    ablation = conclusion.results(conclusion.SHIPPED)
    cards = models.cards("mnist")
    # the tiny zoo's cards record black / probability: their own Ginis (natural IG 0.5, adv_0.3 0.65)
    paper = {(r["attr"], r["model"]): r for r in tradeoffs.image_rows("mnist", cards, "black", "probability", ablation)}
    assert paper[("IG", "a (eps=0.3)")]["dG"] == pytest.approx(0.15)
    assert paper[("IG", "a (eps=0.3)")]["Gini from"].startswith("model cards")
    other = {(r["attr"], r["model"]): r for r in tradeoffs.image_rows("mnist", cards, "blur", "logit", ablation)}
    for attr in ("IG", "SHAP"):
        for key, label in (("a", "a (eps=0.3)"), ("l", "l (lam=0.01)")):
            row = ablation.row("mnist", attr, "blur", "logit", key)
            shown = other[(attr, label)]
            assert shown["dG"] == pytest.approx(row["dG"], abs=1e-12)
            assert shown["dG ± (95% CI)"] == row["dG_ci95"] and shown["mean Gini"] == row["mean_gini"]
            assert shown["Gini from"] == "ablation results (shipped, 20 images, zoo sample)"
    assert other[("IG", "a (eps=0.3)")]["AcDrop"] == pytest.approx(0.10 - 0.13)  # accuracies still from the cards


def test_table1_without_results_for_the_choice_says_so(tiny_zoo):
    rows = tradeoffs.image_rows("mnist", models.cards("mnist"), "uniform", "logit", None)
    assert all(math.isnan(r["dG"]) and r["Gini from"].startswith("not measured") for r in rows)
    assert rows[0]["AcDrop"] == pytest.approx(-0.03)


# ---------------------------------------------------------------- the robustness-sparseness frontier


def test_the_frontier_uses_autoattack_where_measured_and_lists_user_models_at_once(tiny_zoo):
    save_user_model("adv_0.3-live-5steps-x", "adv", 0.3, 0.0,
                    [{"attack": "pgd", "eps": 0.3, "accuracy": 0.9}, {"attack": "autoattack", "eps": 0.3, "accuracy": 0.8}],
                    {"ig": 0.99, "deepshap": 0.7, "reference": "black", "output": "probability"})
    frame = tradeoffs.frontier_frame(models.cards())
    assert len(frame) == 2 * 5  # four zoo models and yours, IG and DeepSHAP
    for card in models.cards():
        points = frame[frame["model"] == card["name"]].set_index("attr")
        aa = card_robust_accuracy(card, 0.3, "autoattack")
        expected = aa if math.isfinite(aa) else card_robust_accuracy(card, 0.3, "pgd")
        assert (points["robust_accuracy"] == expected).all()
        assert points.loc["IG", "mean_gini"] == card_mean_gini(card, "ig")
        assert set(points["attack"]) == {"AutoAttack" if math.isfinite(aa) else "PGD (AutoAttack not measured)"}
    mine = frame[frame["source"] == "user"]
    assert set(mine["protocol"]) == {"live"} and mine["label"].str.endswith("(yours)").all()
    # yours is the sparsest and most robust IG model here: it alone is on the IG frontier
    assert list(frame[(frame["attr"] == "IG") & frame["on_frontier"]]["model"]) == ["adv_0.3-live-5steps-x"]
    fig = tradeoffs.frontier_plotly(frame, "IG")
    symbols = [s for trace in fig.data if trace.mode == "markers" for s in trace.marker.symbol]
    assert "diamond" in symbols and "circle-open" in symbols


def test_pareto_front_points_are_never_beaten_and_the_others_are():
    rng = np.random.default_rng(0)
    gini, accuracy = rng.random(40), rng.random(40)
    front = tradeoffs.pareto_front(gini, accuracy)
    for i in range(40):
        beaten = any(gini[j] >= gini[i] and accuracy[j] >= accuracy[i] and (gini[j], accuracy[j]) != (gini[i], accuracy[i])
                     for j in range(40))
        assert front[i] == (not beaten)


# ---------------------------------------------------------------- recomputing in the background


def wait_for(job, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while job.active and time.time() < deadline:
        time.sleep(0.1)
    assert not job.active, "the recompute did not finish in time"


def test_recompute_writes_fresh_results_that_replace_the_view_and_resumes(shipped):
    assert conclusion.recomputable_datasets(models.cards()) == ["mnist"]
    job = conclusion.start_recompute(["mnist"], ["ig"], ["black", "mean"], ["probability"], 3)
    wait_for(job)
    assert job.status == "done", job.error
    assert conclusion.available_sources() == [conclusion.RECOMPUTED, conclusion.SHIPPED]
    fresh = conclusion.results(conclusion.RECOMPUTED)
    assert len(fresh.rows) == 2 * 3 and {r["n_images"] for r in fresh.rows} == {3}
    assert {r["pool"] for r in fresh.rows} == {"zoo sample"}  # no MNIST on disk here
    assert list(fresh.cells["reference"]) == ["black", "mean"]
    assert "recomputed on this server" in fresh.describe() and "3 images per cell" in fresh.describe()
    again = conclusion.start_recompute(["mnist"], ["ig"], ["black"], ["probability"], 3)
    wait_for(again)
    assert again.status == "done" and all(r["seconds"] == 0.0 for r in conclusion.results(conclusion.RECOMPUTED).rows)


def test_one_recompute_at_a_time_and_a_stop_keeps_the_server_usable(tiny_zoo, monkeypatch):
    import advex.experiments.ablation as ablation

    release = threading.Event()

    def slow(grid, work_dir=None, progress=None, **_):
        while True:
            progress("mnist ig black probability n")
            release.wait(0.05)

    monkeypatch.setattr(ablation, "run_ablation", slow)
    job = conclusion.start_recompute(["mnist"], ["ig"], ["black"], ["probability"], 2)
    try:
        deadline = time.time() + 30
        while job.status != "running" and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(AdvexError, match="already running"):
            conclusion.start_recompute(["mnist"], ["ig"], ["black"], ["probability"], 2)
        assert "cell" in job.message
        conclusion.recompute_queue().stop(job.id)
        wait_for(job, 30)
    finally:
        release.set()
    assert job.status == "failed" and job.should_stop() and "stopped" in job.error
    assert conclusion.results(conclusion.RECOMPUTED) is None  # nothing half-written


def test_a_bad_grid_is_refused_before_anything_runs(tiny_zoo):
    with pytest.raises(AdvexError, match="at least one reference"):
        conclusion.start_recompute(["mnist"], ["ig"], [], ["probability"], 3)
    with pytest.raises(AdvexError, match="n_images"):
        conclusion.start_recompute(["mnist"], ["ig"], ["black"], ["probability"], 1)


def test_recomputable_needs_the_three_table1_models(tmp_path, monkeypatch):
    root = build_tiny_zoo(tmp_path / "zoo")
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(root))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    assert conclusion.recomputable_datasets(models.cards()) == ["mnist"]
    for path in (root / "mnist").glob("l1_0.01.*"):
        path.unlink()
    assert conclusion.recomputable_datasets(models.cards()) == []


def test_the_shipped_results_cover_every_choice_of_both_data_sets_and_pair_each_a_and_l():
    """pretrained/ablation.json (from `advex ablate`) reads cleanly, covers the whole grid, and dG = G(model) - G(n)."""
    path = conclusion.shipped_path()
    if not path.exists():
        pytest.skip(f"{path} is not shipped in this checkout")
    rows = conclusion.read_rows(path)
    cells = conclusion.cells_frame(rows)
    assert len(cells) == 2 * 2 * len(REFERENCES) * len(OUTPUTS)  # data sets x attributions x references x outputs
    assert set(cells["dataset"]) == {"mnist", "fashion-mnist"} and (cells["n_images"] >= 200).all()
    for row in rows:
        if row["model"] != "n":
            natural = next(r for r in rows if r["model"] == "n" and all(r[k] == row[k] for k in conclusion.CELL))
            assert row["dG"] == pytest.approx(row["mean_gini"] - natural["mean_gini"], abs=1e-9)
    paper = cells[cells["paper_choice"]]
    assert len(paper) == 4 and set(paper["verdict"]) == {"a"}  # the paper's choice: a ahead of l, CIs apart
