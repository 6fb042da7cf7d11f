"""The `advex` command line: every subcommand has --help; `advex train` writes a loadable model."""

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from advex.cli import app, expand_multi_value_options, main
from advex.models.io import load_model

runner = CliRunner()


def all_command_paths():
    """Every command path, e.g. ['table1'], ['data', 'list']."""
    root = get_command(app)
    paths = []

    def walk(command, prefix):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, prefix + [name])
        else:
            paths.append(prefix)

    walk(root, [])
    return paths


def test_every_subcommand_has_help():
    paths = all_command_paths()
    assert ["table1"] in paths and ["train"] in paths
    for path in paths:
        result = runner.invoke(app, path + ["--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_multi_value_option_expansion():
    assert expand_multi_value_options(["table1", "--datasets", "a", "b", "--json", "f"]) == [
        "table1", "--datasets", "a", "--datasets", "b", "--json", "f",
    ]


def test_train_writes_a_loadable_model(tmp_path):
    result = runner.invoke(app, ["train", "synthetic", "--mode", "adv", "--eps", "0.2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    model, card = load_model(tmp_path / "synthetic" / "adv_0.2")
    assert card["mode"] == "adv" and card["eps"] == 0.2 and card["dataset"] == "synthetic"
    assert card["clean_accuracy"] > 0.8 and 0 < card["gini"]["ig"] < 1
    assert model.weight.shape[0] == 30


def run_main(args, capsys):
    """Run the console entry point as a user would; return (exit status, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["train", "mushroom", "--mode", "adv", "--eps", "nan"],
    ["train", "mushroom", "--mode", "adv", "--eps", "-1"],
    ["train", "mushroom", "--mode", "adv", "--eps", "1e400"],
    ["train", "mushroom", "--mode", "l1", "--lam", "-3"],
    ["train", "mnist", "--seed", "-5"],
    ["train", "mnist", "--mode", "robust"],
    ["train", "svhn"],
    ["table1", "--datasets", "cifar100"],
    ["evaluate", "mnist/adv_0.3", "--reference", "grey"],
    ["ablate", "--references", "grey"],
    ["train", "mushroom", "--eps", "not-a-number"],
    ["no-such-command"],
])
def test_every_cli_error_is_one_line_with_exit_status_2(args, capsys):
    status, err = run_main(args, capsys)
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err


def test_an_output_path_is_checked_before_any_work(tmp_path, capsys):
    status, err = run_main(["table1", "--datasets", "mushroom", "--json", str(tmp_path)], capsys)
    assert status == 2 and "is a directory" in err
    status, err = run_main(["ablate", "--n-images", "2", "--json", str(tmp_path)], capsys)
    assert status == 2 and "is a directory" in err


def test_train_rejects_unknown_mode(tmp_path):
    result = runner.invoke(app, ["train", "synthetic", "--mode", "robust", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert not any(tmp_path.iterdir())


def test_ablate_runs_on_the_zoos_shipped_sample_and_writes_the_issue_rows(tmp_path, capsys, monkeypatch):
    """Without data on disk `advex ablate` uses the zoo's 200-image sample; dG is the paired mean of eqs. 19-22."""
    import json

    monkeypatch.delenv("ADVEX_DATA_DIR", raising=False)  # no data anywhere: the zoo's sample stands in
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))

    out = tmp_path / "ablation.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["ablate", "--datasets", "mnist", "--references", "black", "train-sample", "--outputs", "probability",
              "--n-images", "3", "--k", "4", "--ig-k", "2", "--data-dir", str(tmp_path / "no-data"), "--json", str(out),
              "--work-dir", str(tmp_path / "work")])
    printed = capsys.readouterr()
    assert exit_info.value.code in (0, None), printed.err
    rows = json.loads(out.read_text())
    assert len(rows) == 2 * 2 * 3  # methods x references x models
    keys = {"dataset", "attr", "reference", "output", "model", "eps", "lam", "mean_gini", "dG", "dG_ci95", "n_images"}
    for row in rows:
        assert keys <= set(row) and row["n_images"] == 3 and row["pool"] == "zoo sample"
        natural = next(r for r in rows if (r["attr"], r["reference"], r["model"]) == (row["attr"], row["reference"], "n"))
        if row["model"] == "n":
            assert row["dG"] is None and row["dG_ci95"] is None
        else:
            assert row["dG"] == pytest.approx(row["mean_gini"] - natural["mean_gini"]) and row["dG_ci95"] >= 0
    assert {(r["model"], r["eps"], r["lam"]) for r in rows} == {("n", 0.0, 0.0), ("l", 0.0, 0.01), ("a", 0.3, 0.0)}
    assert "black" in printed.out and "a > l?" in printed.out
