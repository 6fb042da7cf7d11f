"""`advex beyond` on the command line: its JSON rows, its table, and bad choices as one line with exit status 2."""

from __future__ import annotations

import json

import pytest
import typer

import advex.cli
from advex.cli import beyond
from advex.experiments.beyond import GROUND_TRUTH, ROW_KEYS, SPARSENESS


@pytest.fixture()
def cli(monkeypatch):
    """advex's entry point with `beyond` registered (whether or not the package registers it yet)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    beyond.register(app)
    app.command("version")(lambda: None)  # a second command keeps `beyond` a subcommand
    monkeypatch.setattr(advex.cli, "app", app)

    def run(args: list[str], capsys) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as stopped:
            advex.cli.main(["beyond", *args])
        captured = capsys.readouterr()
        return stopped.value.code, captured.out, captured.err

    return run


def test_the_json_holds_rows_of_both_tables(cli, capsys, tiny_zoo, tmp_path):
    out = tmp_path / "out" / "beyond.json"
    status, stdout, _ = cli(["--datasets", "mnist", "synthetic", "--methods", "saliency", "input-x-gradient",
                             "--measures", "gini", "--measures", "entropy", "--n-images", "3",
                             "--ground-truth-eps", "0", "--ground-truth-eps", "0.2",
                             "--json", str(out), "--work-dir", str(tmp_path / "work")], capsys)
    assert status == 0, stdout
    rows = json.loads(out.read_text())
    assert all(set(ROW_KEYS) <= set(row) for row in rows)
    sparseness = [row for row in rows if row["table"] == SPARSENESS]
    truth = [row for row in rows if row["table"] == GROUND_TRUTH]
    assert len(sparseness) == 2 * 2 * 2 * 3  # data sets x methods x measures x models
    assert {row["measure"] for row in sparseness} == {"gini", "entropy"}
    assert [(row["model"], row["setting"]) for row in truth if row["method"] == "saliency"] == [
        ("n", "natural"), ("l", "l1_0.02"), ("a", "adv_0.2")]
    assert "a vs l" in stdout and "precision at k = 5" in stdout and f"wrote {len(rows)} rows" in stdout
    assert "mnist: a sparser than n in" in stdout


@pytest.mark.parametrize("args, message", [
    (["--datasets", "cifar10"], "unknown data set 'cifar10'"),
    (["--methods", "lime"], "unknown method 'lime'"),
    (["--measures", "l0"], "unknown sparseness measure 'l0'"),
    (["--n-images", "1"], "n_images must be"),
    (["--ground-truth-eps", "-1"], "ground-truth eps"),
])
def test_a_bad_choice_is_one_line_and_exit_status_2(cli, capsys, tmp_path, args, message):
    status, _, err = cli([*args, "--work-dir", str(tmp_path / "work")], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not (tmp_path / "work").exists()


def test_output_paths_are_checked_before_any_work(cli, capsys, tmp_path):
    status, _, err = cli(["--datasets", "synthetic", "--json", str(tmp_path), "--work-dir", str(tmp_path / "work")], capsys)
    assert status == 2 and "is a directory" in err
    (tmp_path / "a-file").write_text("")
    status, _, err = cli(["--datasets", "synthetic", "--work-dir", str(tmp_path / "a-file")], capsys)
    assert status == 2 and "is a file" in err
    assert not (tmp_path / "work").exists()
