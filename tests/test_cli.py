"""The `advex` command line: every subcommand has --help; `advex train` writes a loadable model."""

from typer.main import get_command
from typer.testing import CliRunner

from advex.cli import app, expand_multi_value_options
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
    model, card = load_model(tmp_path / "adv_0.2")
    assert card["mode"] == "adv" and card["eps"] == 0.2 and card["dataset"] == "synthetic"
    assert card["metrics"]["test_accuracy"] > 0.8
    assert model.weight.shape[0] == 30


def test_train_rejects_unknown_mode(tmp_path):
    result = runner.invoke(app, ["train", "synthetic", "--mode", "robust", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert not any(tmp_path.iterdir())
