"""Sweep grids (no Ray): the TOML format, its validation, the shipped grids, and the results readers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO_ROOT

from advex.errors import AdvexError
from advex.evaluation.report import EvaluationPlan
from advex.models.io import read_card, save_model
from advex.models.linear import LogisticRegression
from advex.sweeps import ResultsStore, Trial, across_seeds, load_grid, parse_grid, read_results, zoo_trials
from advex.vocabulary import Setting
from advex.zoo.catalogue import ZOO_MODELS, zoo_jobs

SWEEPS = REPO_ROOT / "sweeps"


def write_grid(tmp_path, text: str):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def test_tabular_small_is_two_data_sets_by_three_modes_by_two_seeds():
    grid = load_grid(SWEEPS / "tabular_small.toml")
    assert len(grid.trials) == 12
    assert {(t.dataset, t.setting, t.seed) for t in grid.trials} == {
        (d, s, seed) for d in ("mushroom", "spambase")
        for s in (Setting("natural"), Setting("l1", lam=0.02), Setting("adv", eps=0.1)) for seed in (0, 1)
    }
    assert all(t.protocol is None and t.steps is None for t in grid.trials)  # tabular: J.1
    assert len({t.id for t in grid.trials}) == 12 and grid.resources.cpus == 1


def test_zoo_grid_is_the_zoo_that_advex_zoo_build_builds():
    grid = load_grid(SWEEPS / "zoo.toml")
    built = zoo_trials(zoo_jobs(tuple(ZOO_MODELS)))
    key = lambda t: (t.dataset, t.setting, t.seed, t.protocol, t.steps, t.plan, t.float16)  # noqa: E731
    assert sorted(map(key, grid.trials), key=str) == sorted(map(key, built), key=str)
    assert {(t.dataset, t.setting) for t in grid.trials} == {(d, s) for d, ss in ZOO_MODELS.items() for s in ss}
    assert grid.trials[0].plan == EvaluationPlan()  # the zoo's evaluation plan
    assert all(t.name == t.setting.name for t in built) and grid.resources.gpus == 0.25


def test_figure3_grid_is_two_image_data_sets_by_nine_settings_by_five_seeds_with_the_paper_protocol():
    grid = load_grid(SWEEPS / "figure3_images.toml")
    assert len(grid.trials) == 2 * (1 + 4 + 4) * 5
    assert {t.protocol for t in grid.trials} == {"paper"} and {t.seed for t in grid.trials} == set(range(5))
    for dataset, settings in ZOO_MODELS.items():  # the zoo's eps values, and its two lambda values among four
        grid_settings = {t.setting for t in grid.trials if t.dataset == dataset}
        assert set(settings) <= grid_settings


def test_natural_models_are_not_duplicated_across_eps_and_lambda(tmp_path):
    grid = load_grid(write_grid(tmp_path, """
        datasets = ["mnist"]
        eps = [0.1, 0.2, 0.3]
        lam = [0.01, 0.001]
        seeds = [0, 1, 2]
        steps = 5
    """))
    settings = [t.setting for t in grid.trials]
    assert settings.count(Setting("natural")) == 3  # once per seed
    assert len(grid.trials) == (1 + 2 + 3) * 3
    assert all(t.steps == 5 and t.protocol == "fast" for t in grid.trials)


def test_defaults_are_the_papers_table1_settings_and_overrides_apply_per_data_set(tmp_path):
    grid = load_grid(write_grid(tmp_path, """
        datasets = ["mnist", "fashion-mnist"]
        modes = ["adv"]
        adv_protocol = "paper"
        [dataset.fashion-mnist]
        eps = [0.02, 0.05]
        seeds = [3]
    """))
    assert [(t.dataset, t.setting.eps, t.seed, t.protocol) for t in grid.trials] == [
        ("mnist", 0.3, 0, "paper"), ("fashion-mnist", 0.02, 3, "paper"), ("fashion-mnist", 0.05, 3, "paper")]


def test_evaluation_table_becomes_the_plan_of_image_trials(tmp_path):
    grid = load_grid(write_grid(tmp_path, """
        datasets = ["mnist", "spambase"]
        modes = ["natural"]
        [evaluation]
        attacks = ["pgd", "autoattack"]
        robust_images = 500
        gini_images = 200
        methods = ["ig"]
        reference = "train-sample"
        output = "logit"
    """))
    image, tabular = grid.trials
    assert image.plan.attacks == ("pgd", "autoattack") and image.plan.robust_images == 500
    assert image.plan.gini_images == 200 and image.plan.attributions.methods == ("ig",)
    assert (image.plan.attributions.reference, image.plan.attributions.output) == ("train-sample", "logit")
    assert tabular.config()["plan"] is None and image.config()["plan"]["robust_images"] == 500


@pytest.mark.parametrize("text, fragments", [
    ('datasets = ["mushroom"]\nseed = [0]', ["unknown key 'seed'", "allowed: datasets"]),
    ('datasets = ["svhn"]', ["unknown datasets value 'svhn'"]),
    ('datasets = []', ["non-empty datasets"]),
    ('modes = ["natural"]', ["needs a non-empty datasets"]),
    ('datasets = ["mushroom"]\nmodes = ["robust"]', ["unknown mushroom: modes value 'robust'"]),
    ('datasets = ["mushroom"]\neps = [0.0]', ["eps values must be finite and > 0"]),
    ('datasets = ["mushroom"]\neps = [-1, 0.1]', ["eps values must be finite and > 0", "got [-1]"]),
    ('datasets = ["mushroom"]\nmodes = ["natural", "l1"]\neps = [0.1]', ["eps values are used only by adv models"]),
    ('datasets = ["mushroom"]\nmodes = ["adv"]\neps = []', ["adv models need at least one eps value"]),
    ('datasets = ["mushroom"]\nseeds = [0, -2]', ["seeds must be a non-empty list of integers >= 0"]),
    ('datasets = ["mushroom"]\nseeds = [true]', ["seeds must be"]),
    ('datasets = ["mushroom"]\nprotocol = "fast"', ["protocol in a grid without image data sets"]),
    ('datasets = ["mushroom"]\n[evaluation]\nattacks = []', ["[evaluation] applies to image models"]),
    ('datasets = ["mnist"]\nprotocol = "slow"', ["mnist: protocol must be one of paper, fast"]),
    ('datasets = ["mnist"]\nsteps = 0', ["steps must be an integer >= 1"]),
    ('datasets = ["mnist"]\n[evaluation]\nattacks = ["fgsm"]\nreference = "grey"',
     ["unknown evaluation.attacks value 'fgsm'", "evaluation.reference must be one of"]),
    ('datasets = ["mnist"]\n[dataset.cifar10]\neps = [0.1]', ["[dataset.cifar10] names a data set that is not in datasets"]),
    ('datasets = ["mushroom"]\n[dataset.mushroom]\nsteps = 3', ["steps in [dataset.mushroom]: it applies to image models"]),
    ('datasets = ["mushroom"]\n[resources]\ngpus = 1.5\nmemory = 3', ["resources.gpus must be", "unknown key 'memory'"]),
    ('datasets = ["mnist"]\nmodes = ["adv"]\neps = [0.1, 0.1000000001]', ["same model name"]),
    ('datasets = ["mushroom"', ["is not valid TOML"]),
])
def test_bad_grid_files_give_one_clear_error_naming_every_problem(tmp_path, text, fragments):
    with pytest.raises(AdvexError) as caught:
        load_grid(write_grid(tmp_path, text))
    message = str(caught.value)
    assert message.startswith("grid file") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_or_huge_grid_files_are_errors(tmp_path):
    with pytest.raises(AdvexError, match="not found; see sweeps/tabular_small.toml"):
        load_grid(tmp_path / "absent.toml")
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (1 << 20))
    with pytest.raises(AdvexError, match="a grid is a small TOML file"):
        load_grid(huge)


def test_trials_check_their_own_fields():
    with pytest.raises(AdvexError, match="unknown protocol"):
        Trial("mnist", Setting("natural"), protocol="slow")
    with pytest.raises(AdvexError, match="seed"):
        Trial("mushroom", Setting("natural"), seed=-1)
    with pytest.raises(AdvexError, match="plain file name"):
        Trial("mushroom", Setting("natural"), name="../outside")
    assert Trial("mushroom", Setting("adv", eps=0.1), seed=2).id == "mushroom/adv_0.1_seed2"
    with pytest.raises(AdvexError, match="at most"):
        parse_grid({"datasets": ["mnist"], "modes": ["adv"], "eps": [0.001 * i for i in range(1, 202)],
                    "seeds": list(range(50))})


def write_rows(root, rows):
    store = ResultsStore(root)
    for row in rows:
        store.write_row(row)
    return store


def test_across_seeds_gives_the_mean_and_normal_95ci_over_seeds_of_finished_trials(tmp_path):
    values = [0.60, 0.64, 0.71]
    rows = [{"dataset": "spambase", "mode": "adv", "eps": 0.1, "lam": 0.0, "seed": seed, "name": f"adv_0.1_seed{seed}",
             "protocol": "J.1 tabular", "status": "ok", "clean_accuracy": 0.9, "gini_ig": value}
            for seed, value in enumerate(values)]
    rows.append({**rows[0], "seed": 9, "name": "adv_0.1_seed9", "status": "failed", "gini_ig": None, "clean_accuracy": None,
                 "error": "DataFormatError: broken"})
    rows.append({**rows[0], "mode": "natural", "eps": 0.0, "name": "natural_seed0", "gini_ig": 0.5})
    write_rows(tmp_path, rows)
    (tmp_path / "results" / "spambase" / "torn.json").write_text("{not json")
    frame = read_results(tmp_path)
    assert len(frame) == 5 and frame.attrs["problems"] and "torn.json" in frame.attrs["problems"][0]
    assert frame.loc[frame["status"] == "failed", "error"].item() == "DataFormatError: broken"
    summary = across_seeds(frame).set_index("setting")
    adv = summary.loc["adv_0.1"]
    mean = sum(values) / 3
    sd = np.sqrt(sum((v - mean) ** 2 for v in values) / 2)  # by hand: sample standard deviation
    assert adv["n_seeds"] == 3 and adv["seeds"] == [0, 1, 2]
    assert adv["gini_ig_mean"] == pytest.approx(mean) and adv["gini_ig_ci95"] == pytest.approx(1.96 * sd / np.sqrt(3))
    assert adv["clean_accuracy_ci95"] == pytest.approx(0.0)
    assert summary.loc["natural", "n_seeds"] == 1 and np.isnan(summary.loc["natural", "gini_ig_ci95"])


def test_read_results_of_a_folder_without_results_is_an_error(tmp_path):
    with pytest.raises(AdvexError, match="no sweep results"):
        read_results(tmp_path)
    (tmp_path / "results").mkdir()
    empty = read_results(tmp_path)
    assert empty.empty and "gini_ig" in empty and across_seeds(empty).empty


def test_a_row_counts_as_finished_only_for_the_same_configuration_and_stored_model(tmp_path):
    trial = Trial("mushroom", Setting("natural"))
    store = ResultsStore(tmp_path)
    store.write_row({"dataset": "mushroom", "name": trial.name, "status": "ok", "trial": trial.config(),
                     "weights_sha256": "not yet"})
    assert not store.is_finished(trial)  # no model card
    save_model(LogisticRegression(3), store.model_stem(trial), {"dataset": "mushroom"})
    assert not store.is_finished(trial)  # the stored model is not the one the row names
    sha = read_card(store.model_stem(trial))["weights_sha256"]
    store.write_row({**store.read_row(trial), "weights_sha256": sha})
    assert store.is_finished(trial)
    assert store.is_finished(Trial("mushroom", Setting("natural"), seed=0, plan=EvaluationPlan(gini_images=5),
                                   protocol="paper"))  # tabular models: plan and protocol do not apply
    assert not store.is_finished(Trial("mushroom", Setting("natural"), float16=True))  # another configuration
    assert not store.is_finished(Trial("mushroom", Setting("natural"), seed=1))
    store.write_row({**store.read_row(trial), "status": "failed"})
    assert not store.is_finished(trial)


def sweep_app():
    """A Typer app holding `advex sweep` the way advex.cli registers its command modules."""
    import typer

    from advex.cli.sweep import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return app


def test_cli_dry_run_lists_the_trials_without_starting_ray(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(sweep_app(), ["sweep", str(SWEEPS / "tabular_small.toml"), "--dry-run",
                                              "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "12 trials" and lines[0].startswith("mushroom/natural_seed0")
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_bad_grid_before_starting_anything(tmp_path):
    from typer.testing import CliRunner

    bad = write_grid(tmp_path, 'datasets = ["mushroom"]\nmodes = ["robust"]\nseeds = "0"')
    result = CliRunner().invoke(sweep_app(), ["sweep", str(bad), "--results", str(tmp_path / "out")])
    assert isinstance(result.exception, AdvexError)  # advex.cli.main prints it as one line, exit status 2
    assert "unknown mushroom: modes value 'robust'" in str(result.exception) and "seeds must be" in str(result.exception)
    assert not (tmp_path / "out").exists()
    both = CliRunner().invoke(sweep_app(), ["sweep", str(SWEEPS / "tabular_small.toml"), "--address", "auto",
                                            "--num-cpus", "2"])
    assert isinstance(both.exception, AdvexError) and "ray start --num-cpus" in str(both.exception)
