"""Sweeps on a real local Ray (``ray.init(num_cpus=2)``, one session for the module; no mock anywhere).

The tiny tabular grid (2 data sets x 3 modes x 2 seeds) runs through Ray and its rows equal the
same trainings run directly; a killed driver's sweep resumes with only the remaining trials; a
trial that raises is recorded with its error, retried once, and does not stop the others.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import ray
from conftest import REPO_ROOT, require_dataset

from advex.sweeps import Trial, across_seeds, load_grid, read_results, run_sweep
from advex.vocabulary import Setting
from advex.zoo.build import train_and_save

GRID = REPO_ROOT / "sweeps" / "tabular_small.toml"


@pytest.fixture(scope="module")
def ray_session():
    """One real local Ray for the module (start-up takes seconds), shut down at the end."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def tabular_data(data_dir):
    require_dataset(data_dir, "mushroom")
    require_dataset(data_dir, "spambase")
    return data_dir


def rows_on_disk(results):
    folder = results / "results"
    return {p.relative_to(folder): p.read_bytes() for p in folder.glob("*/*.json")} if folder.is_dir() else {}


def test_tabular_grid_on_ray_equals_the_same_trainings_run_directly(ray_session, tabular_data, tmp_path):
    trials = load_grid(GRID).trials
    summary = run_sweep(trials, tmp_path / "sweep", data_dir=tabular_data, progress=False)
    assert len(summary.finished) == 12 and summary.failed == [] and summary.skipped == 0
    frame = read_results(tmp_path / "sweep").set_index("trial_id")
    assert len(frame) == 12 and (frame["status"] == "ok").all() and (frame["attempts"] == 1).all()
    for trial in trials:
        card = train_and_save(trial.dataset, trial.setting, tmp_path / "direct", name=trial.name, seed=trial.seed,
                              data_dir=tabular_data)
        row = frame.loc[trial.id]
        assert row["weights_sha256"] == card["weights_sha256"]  # the same weights, bit for bit
        assert row["clean_accuracy"] == card["clean_accuracy"]
        assert row["gini_ig"] == card["gini"]["ig"] and row["gini_ig_ci95"] == card["gini"]["ig_ci95"]
        assert (tmp_path / "sweep" / f"{row['model']}.json").is_file()  # the model's card beside its weights
    seeds = across_seeds(read_results(tmp_path / "sweep"))
    assert len(seeds) == 6 and (seeds["n_seeds"] == 2).all()
    # Adversarial training concentrates the attributions (Section 6): here on both data sets, seed-averaged.
    by = seeds.set_index(["dataset", "mode"])["gini_ig_mean"]
    assert all(by[(d, "adv")] > by[(d, "natural")] for d in ("mushroom", "spambase"))


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_only_the_remaining_trials(ray_session, tabular_data, tmp_path):
    results = tmp_path / "sweep"
    driver = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys; from advex.sweeps import load_grid, run_sweep; "
            "run_sweep(load_grid(sys.argv[1]).trials, sys.argv[2], address=sys.argv[3], data_dir=sys.argv[4], progress=False)"
        ), str(GRID), str(results), ray_session, str(tabular_data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT,
    )
    deadline = time.time() + 180
    while len(rows_on_disk(results)) < 2 and driver.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)  # the driver dies mid-sweep, without any chance to clean up
    _, stderr = driver.communicate(timeout=30)
    assert driver.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    before = rows_on_disk(results)
    assert 2 <= len(before) < 12, "the driver finished before it could be killed"
    summary = run_sweep(load_grid(GRID).trials, results, data_dir=tabular_data, progress=False)
    assert summary.skipped == len(before) and len(summary.finished) == 12 - len(before)
    assert set(summary.finished).isdisjoint({str(p.with_suffix("")) for p in before})
    after = rows_on_disk(results)
    assert len(after) == 12 and all(after[p] == data for p, data in before.items())  # finished rows untouched
    assert (read_results(results)["status"] == "ok").all()
    again = run_sweep(load_grid(GRID).trials, results, data_dir=tabular_data, progress=False)
    assert again.skipped == 12 and again.finished == []  # nothing left: Ray is not even asked


def test_a_failing_trial_is_recorded_retried_once_and_does_not_stop_the_others(ray_session, tabular_data, tmp_path):
    broken = tmp_path / "data"
    (broken / "mushroom").mkdir(parents=True)
    (broken / "mushroom" / "agaricus-lepiota.data").write_text("this is not the mushroom data\n")
    os.symlink(tabular_data / "spambase", broken / "spambase")
    trials = [Trial("mushroom", Setting("natural")), Trial("spambase", Setting("natural")),
              Trial("spambase", Setting("adv", eps=0.1))]
    summary = run_sweep(trials, tmp_path / "sweep", data_dir=broken, progress=False)
    assert summary.failed == ["mushroom/natural_seed0"]
    assert sorted(summary.finished) == ["spambase/adv_0.1_seed0", "spambase/natural_seed0"]
    frame = read_results(tmp_path / "sweep").set_index("trial_id")
    failed = frame.loc["mushroom/natural_seed0"]
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert [e["attempt"] for e in failed["errors"]] == [1, 2]
    assert all(e["error"].startswith("DataFormatError: ") and "agaricus-lepiota.data" in e["error"] for e in failed["errors"])
    assert all("in load_mushroom" in e["traceback"] and "\x1b" not in e["traceback"] for e in failed["errors"])
    assert failed["error"] == failed["errors"][-1]["error"] and not failed["error"].startswith("RayTaskError")
    assert (frame.loc[["spambase/natural_seed0", "spambase/adv_0.1_seed0"], "status"] == "ok").all()
    assert list(across_seeds(read_results(tmp_path / "sweep"))["dataset"]) == ["spambase", "spambase"]
    # A re-run retries the failed trial only (now with the real data it succeeds).
    rerun = run_sweep(trials, tmp_path / "sweep", data_dir=tabular_data, progress=False)
    assert rerun.skipped == 2 and rerun.finished == ["mushroom/natural_seed0"]


def test_a_trial_no_node_can_hold_is_an_error_not_a_sweep_that_waits_forever(ray_session, tmp_path):
    from advex.errors import AdvexError
    from advex.sweeps import Resources

    with pytest.raises(AdvexError, match="asks for 3 CPUs but the largest Ray node has 2"):
        run_sweep([Trial("synthetic", Setting("natural"))], tmp_path, resources=Resources(cpus=3), progress=False)
    with pytest.raises(AdvexError, match="--device cuda, but the Ray cluster has no GPU"):
        run_sweep([Trial("mnist", Setting("natural"), steps=1)], tmp_path, device="cuda", progress=False)
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_zoo_build_is_a_sweep_in_the_zoo_layout_and_resumes(ray_session, data_dir, tmp_path, monkeypatch):
    import json

    from advex.evaluation.report import EvaluationPlan
    from advex.sweeps.zoo import build_zoo

    require_dataset(data_dir, "mnist")
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    plan = EvaluationPlan(gini_images=0, robust_images=10)  # attributions are tested elsewhere
    options = dict(out_dir=tmp_path / "zoo", names=("l1_0.01",), protocol="paper", steps=1, device="cpu",
                   data_dir=str(data_dir), plan=plan, log=lambda _: None)
    (card,) = build_zoo(("mnist",), **options)
    weights = tmp_path / "zoo" / "mnist" / card["weights_file"]
    assert card["name"] == "l1_0.01" and card["weights_dtype"] == "float16" and weights.name.endswith(".xz")
    assert card["steps"] == 1 and card["protocol"] == "paper" and "sample_accuracy" in card
    assert [(r["attack"], r["eps"], r["n_images"]) for r in card["robust_accuracy"]] == [("pgd", 0.3, 10)]
    assert (tmp_path / "zoo" / "mnist" / "sample.safetensors").is_file()
    index = json.loads((tmp_path / "zoo" / "index.json").read_text())
    assert list(index["datasets"]) == ["mnist"] and index["datasets"]["mnist"]["models"][0]["name"] == "l1_0.01"
    stamp = weights.stat().st_mtime_ns
    (again,) = build_zoo(("mnist",), **options)  # finished before: not retrained
    assert weights.stat().st_mtime_ns == stamp and again["weights_sha256"] == card["weights_sha256"]
