"""`advex beyond` as a library: rows and their signs, the paired CI by hand, the a-beats-l rule, precision at k,
the ground truth against eps, a resumable work folder, and bad choices."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from conftest import build_tiny_zoo
from hypothesis import given, settings
from hypothesis import strategies as st

from advex.errors import AdvexError, ModelFileError
from advex.experiments.beyond import (
    GROUND_TRUTH,
    ROW_KEYS,
    SPARSENESS,
    BeyondGrid,
    Examples,
    cells_of,
    format_beyond,
    format_ground_truth,
    ground_truth,
    run_beyond,
    sparseness_rows,
    summary,
)
from advex.experiments.ground_truth import PRECISION, precision_at_k, strong_features
from advex.metrics.measures import MEASURE_NAMES, MEASURES
from advex.vocabulary import table1_settings

METHODS = ("saliency", "input-x-gradient", "ig")
N_IMAGES = 8


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """`advex beyond` on the tiny zoo's MNIST sample (three cheap methods, 8 images) and the synthetic set."""
    root = tmp_path_factory.mktemp("beyond")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVEX_ZOO_DIR", str(build_tiny_zoo(root / "zoo")))
        patch.setenv("ADVEX_CACHE_DIR", str(root / "cache"))
        patch.setenv("ADVEX_DATA_DIR", str(root / "no-data"))
        grid = BeyondGrid(datasets=("mnist", "synthetic"), methods=METHODS, n_images=N_IMAGES)
        rows = run_beyond(grid, work_dir=root / "work")
        yield grid, rows, root / "work"


def stored(work, dataset: str, setting: str, method: str) -> dict[str, np.ndarray]:
    values = json.loads((work / dataset / f"{setting}__{method}.json").read_text())["values"]
    return {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}


def test_rows_have_the_keys_and_every_cell_of_the_grid(tiny_run):
    grid, rows, _ = tiny_run
    assert all(set(ROW_KEYS) <= set(row) for row in rows)
    assert len(rows) == len(grid.datasets) * len(grid.methods) * len(MEASURE_NAMES) * 3
    assert len(cells_of(rows)) == len(grid.datasets) * len(grid.methods) * len(MEASURE_NAMES)
    mnist = [row for row in rows if row["dataset"] == "mnist"]
    assert {row["n_images"] for row in mnist} == {N_IMAGES} and all("zoo sample" in row["pool"] for row in mnist)
    settings_ = table1_settings("mnist")
    for row in mnist:
        assert (row["eps"], row["lam"]) == (settings_[row["model"]].eps, settings_[row["model"]].lam)
        assert (row["improvement"] is None) == (row["model"] == "n")
    assert {row["reference"] for row in rows if row["method"] == "ig"} == {"black"}
    assert {row["reference"] for row in rows if row["method"] == "saliency"} == {"none"}


def test_an_improvement_is_signed_by_the_registry_direction(tiny_run):
    """Positive = sparser: a - n for measures where higher is sparser, n - a where lower is.

    Checked on the cells where every example has a value for all three models (then means subtract); a map that is
    all zero (Input x Gradient of a probability saturated to 1 in float32) has no value and drops out of its pair.
    """
    _, rows, _ = tiny_run
    complete = [cell for cell in cells_of(rows) if len({row["n_images"] for row in cell.values()}) == 1]
    assert len(complete) >= len(cells_of(rows)) // 2
    for cell in complete:
        n = cell["n"]
        for key in ("l", "a"):
            row = cell[key]
            difference = row["value"] - n["value"]
            expected = difference if MEASURES[row["measure"]].higher_is_sparser else -difference
            assert row["improvement"] == pytest.approx(expected, abs=1e-9)
            assert row["higher_is_sparser"] == MEASURES[row["measure"]].higher_is_sparser


def test_the_paired_ci_equals_a_hand_computation(tiny_run):
    _, rows, work = tiny_run
    for method, measure in itertools.product(METHODS, ("gini", "entropy", "mass_share_90")):
        natural = stored(work, "mnist", "natural", method)[measure]
        adversarial = stored(work, "mnist", "adv_0.3", method)[measure]
        gains = adversarial - natural if MEASURES[measure].higher_is_sparser else natural - adversarial
        half_width = 1.96 * np.sqrt(np.sum((gains - gains.mean()) ** 2) / (len(gains) - 1)) / np.sqrt(len(gains))
        row = next(r for r in rows if (r["dataset"], r["method"], r["measure"], r["model"]) == ("mnist", method, measure, "a"))
        assert row["improvement"] == pytest.approx(gains.mean(), abs=1e-12)
        assert row["improvement_ci95"] == pytest.approx(half_width, rel=1e-9)


def test_a_beats_l_only_when_the_cis_are_apart(tiny_run):
    _, rows, _ = tiny_run
    for cell in cells_of(rows):
        a, l_row = cell["a"], cell["l"]
        expected = ("a" if a["improvement"] - a["improvement_ci95"] > l_row["improvement"] + l_row["improvement_ci95"] else
                    "l" if a["improvement"] + a["improvement_ci95"] < l_row["improvement"] - l_row["improvement_ci95"] else
                    "overlap")
        assert {row["a_vs_l"] for row in cell.values()} == {expected}


def hand_examples() -> Examples:
    return Examples("mnist", np.zeros((4, 2), np.float32), np.zeros(4, np.int64), "hand-built", "true class", lambda s: None,
                    lambda s: "none")


@pytest.mark.parametrize("shift_a, shift_l, expected", [(0.5, 0.1, "a"), (0.1, 0.5, "l"), (0.2, 0.21, "overlap")])
def test_the_verdict_on_hand_built_values(shift_a, shift_l, expected):
    natural = np.array([0.50, 0.52, 0.48, 0.50])
    noise = np.array([0.01, -0.01, 0.02, -0.02])
    values = {"n": {"gini": natural}, "l": {"gini": natural + shift_l + noise}, "a": {"gini": natural + shift_a - noise}}
    rows = sparseness_rows(hand_examples(), "ig", ("gini",), values, dict.fromkeys("nla", 1.0), table1_settings("mnist"))
    assert {row["a_vs_l"] for row in rows} == {expected}
    a = next(row for row in rows if row["model"] == "a")
    assert a["improvement"] == pytest.approx(shift_a)
    assert a["improvement_ci95"] == pytest.approx(1.96 * np.std(-noise, ddof=1) / 2)


def test_entropy_gains_are_positive_when_the_model_is_less_spread():
    """Lower entropy is sparser: a model with lower entropy than n has a positive gain."""
    natural = np.array([0.9, 0.8, 0.85])
    values = {"n": {"entropy": natural}, "l": {"entropy": natural}, "a": {"entropy": natural - 0.3}}
    rows = sparseness_rows(hand_examples(), "ig", ("entropy",), values, dict.fromkeys("nla", 0.0), table1_settings("mnist"))
    assert next(row for row in rows if row["model"] == "a")["improvement"] == pytest.approx(0.3)


# ---------------------------------------------------------------- precision at k


def test_precision_at_k_on_hand_built_maps():
    strong = np.array([True, True, False, False, False])
    maps = np.array([
        [5.0, 4.0, 1.0, 0.0, 0.0],   # both strong features first: 1
        [-5.0, 0.0, 4.0, 0.0, 0.0],  # one of the two largest |A| is strong: 1/2
        [0.0, 0.0, 3.0, -2.0, 1.0],  # none: 0
        [1.0, 1.0, 1.0, 1.0, 1.0],   # all tied: the expected share 2/5
        [3.0, 1.0, 1.0, 1.0, 0.0],   # strong first, then 1 slot among 3 tied of which 1 strong: (1 + 1/3) / 2
        [0.0, 0.0, 0.0, 0.0, 0.0],   # ranks nothing: NaN
    ])
    expected = [1.0, 0.5, 0.0, 0.4, (1 + 1 / 3) / 2]
    result = precision_at_k(maps, strong)
    np.testing.assert_allclose(result[:5], expected)
    assert np.isnan(result[5])
    assert precision_at_k(maps[:1], strong, k=1)[0] == 1.0
    assert precision_at_k(maps[:1].reshape(1, 1, 5), strong)[0] == 1.0  # any per-example shape is flattened


def tie_broken_at_random(row: np.ndarray, strong: np.ndarray, k: int) -> float:
    """The exact expectation over every order of the features, each used to break ties (a second computation)."""
    shares = []
    for order in itertools.permutations(range(len(row))):
        ranked = sorted(order, key=lambda i: -abs(row[i]))  # sorted is stable: ties keep the permutation's order
        shares.append(strong[ranked[:k]].mean())
    return float(np.mean(shares))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-2, 2), min_size=5, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5),
       st.integers(1, 5))
def test_precision_at_k_is_the_expectation_over_random_tie_breaking(values, mask, k):
    row, strong = np.array(values, dtype=np.float64), np.array(mask)
    result = precision_at_k(row[None], strong, k=k)[0]
    if not np.any(row):
        assert np.isnan(result)
    else:
        assert result == pytest.approx(tie_broken_at_random(row, strong, k), abs=1e-12)


def test_precision_at_k_rejects_bad_input():
    strong = np.array([True, False, False])
    with pytest.raises(AdvexError, match="3 entries but the maps have 4"):
        precision_at_k(np.ones((2, 4)), strong)
    with pytest.raises(AdvexError, match="k must be"):
        precision_at_k(np.ones((2, 3)), strong, k=4)
    with pytest.raises(AdvexError, match="NaN"):
        precision_at_k(np.array([[1.0, np.nan, 0.0]]), strong)
    with pytest.raises(AdvexError, match="batch"):
        precision_at_k(np.ones(3), strong)
    with pytest.raises(AdvexError, match="known feature strengths"):
        strong_features(None)


def test_strong_features_are_those_of_the_largest_directed_strength():
    np.testing.assert_array_equal(strong_features([0.8, -0.8, 0.05, -0.05]), [True, True, False, False])


# ---------------------------------------------------------------- ground truth against eps


@pytest.fixture(scope="module")
def small_synthetic():
    from advex.data.synthetic import make_synthetic

    return make_synthetic(n_samples=600, seed=3)


def test_ground_truth_rows_over_eps(small_synthetic, tmp_path):
    rows = ground_truth(("saliency", "input-x-gradient"), (0.0, 0.1, 0.3), seed=0, work_dir=tmp_path, data=small_synthetic)
    assert all(set(ROW_KEYS) <= set(row) and row["table"] == GROUND_TRUTH and row["measure"] == PRECISION for row in rows)
    assert [(row["model"], row["eps"]) for row in rows if row["method"] == "saliency"] == [
        ("n", 0.0), ("l", 0.0), ("a", 0.1), ("a", 0.3)]
    assert {row["k"] for row in rows} == {5} and {row["n_images"] for row in rows} == {180}
    natural = next(row for row in rows if row["method"] == "input-x-gradient" and row["model"] == "n")
    for row in rows:
        assert 0.0 <= row["value"] <= 1.0
        if row["method"] == "input-x-gradient" and row["model"] != "n":
            assert row["improvement"] == pytest.approx(row["value"] - natural["value"], abs=1e-12)
    assert "precision at k = 5" in format_ground_truth(rows)


def test_saliency_precision_of_a_logistic_model_is_that_of_its_weights(small_synthetic):
    """For F = sigmoid(<w, x> + b), |dF/dx| = F(1 - F) |w|: every map ranks the features like |w|."""
    from advex.experiments.tabular import fit_model
    from advex.experiments.tabular_protocols import PAPER_PROTOCOL

    rows = ground_truth(("saliency",), (0.0, 0.3), data=small_synthetic)
    strong = strong_features(small_synthetic.strengths)
    for row in rows:
        setting = table1_settings("synthetic")[row["model"]] if row["model"] != "a" else None
        if setting is None:
            from advex.vocabulary import Setting

            setting = Setting("adv", eps=row["eps"])
        weights = fit_model(small_synthetic, setting, 0, PAPER_PROTOCOL).coef_
        assert row["value"] == pytest.approx(precision_at_k(np.abs(weights)[None], strong)[0], abs=1e-12)


# ---------------------------------------------------------------- the work folder


def test_a_second_run_reads_every_cell_back(tiny_run):
    grid, rows, work = tiny_run
    again = run_beyond(grid, work_dir=work)
    assert all(row["seconds"] == 0.0 for row in again)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in again]


def test_an_interrupted_run_resumes_and_a_changed_cell_is_recomputed(tiny_zoo, tmp_path):
    grid = BeyondGrid(datasets=("mnist",), methods=("saliency", "input-x-gradient"), measures=("gini",), n_images=4)
    seen = []

    def stop_after_two(message: str) -> None:
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(message)

    with pytest.raises(KeyboardInterrupt):
        run_beyond(grid, work_dir=tmp_path, progress=stop_after_two)
    assert len(list((tmp_path / "mnist").glob("*.json"))) == 2
    rows = run_beyond(grid, work_dir=tmp_path)
    fresh = {row["setting"] + row["method"] for row in rows if row["seconds"] > 0}
    assert fresh == {"adv_0.3saliency", "naturalinput-x-gradient", "l1_0.01input-x-gradient", "adv_0.3input-x-gradient"}
    path = tmp_path / "mnist" / "natural__saliency.json"
    cell = json.loads(path.read_text())
    cell["spec"]["seed"] = 7  # computed with another seed: not reused
    path.write_text(json.dumps(cell))
    rows = run_beyond(grid, work_dir=tmp_path)
    assert {row["setting"] + row["method"] for row in rows if row["seconds"] > 0} == {"naturalsaliency"}
    path.write_text("{ truncated")
    assert run_beyond(grid, work_dir=tmp_path)[0]["value"] == pytest.approx(rows[0]["value"])


def test_summary_and_table_read_the_rows(tiny_run):
    _, rows, _ = tiny_run
    lines = summary(rows)
    assert [line.split(":")[0] for line in lines] == ["mnist", "synthetic"]
    assert "of 18 (method, measure) cells" in lines[0]
    table = format_beyond(rows)
    assert table.count("\n") == len(cells_of(rows)) + 2 and "positive = sparser" in table
    assert {row["table"] for row in rows} == {SPARSENESS}


# ---------------------------------------------------------------- bad choices


@pytest.mark.parametrize("kwargs, message", [
    ({"datasets": ("cifar10",)}, "unknown data set 'cifar10'"),
    ({"methods": ("lime",)}, "unknown method 'lime'"),
    ({"measures": ("l0",)}, "unknown sparseness measure 'l0'"),
    ({"datasets": ()}, "choose at least one data set"),
    ({"n_images": 1}, "n_images must be a whole number >= 2"),
    ({"ground_truth_eps": (0.1, -0.2)}, "ground-truth eps"),
    ({"ground_truth_eps": ()}, "at least one eps"),
    ({"seed": -1}, "seed must be"),
])
def test_bad_choices_are_one_clear_error(kwargs, message):
    with pytest.raises(AdvexError, match=message):
        BeyondGrid(**kwargs)


def test_a_missing_zoo_model_is_named_before_any_work(tiny_zoo, tmp_path):
    (tiny_zoo / "mnist" / "adv_0.3.json").unlink()
    with pytest.raises(ModelFileError, match="adv_0.3"):
        run_beyond(BeyondGrid(datasets=("synthetic", "mnist"), methods=("saliency",), n_images=2), work_dir=tmp_path)
    assert not (tmp_path / "synthetic").exists()
