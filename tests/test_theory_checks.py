"""The check registry and the ``advex theory`` command (table, JSON, exit status)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from advex.cli import app
from advex.theory import check_basics, checks

FAST = ["case1_exact", "case2_bound_exact", "e1_part1_exact", "control_nonconvex_loss"]


def test_registry_names_are_unique_and_cite_equations():
    names = [c.name for c in checks.CHECKS]
    assert len(names) == len(set(names)) >= 20
    assert {"e1_part1_exact", "e1_part2_exact", "e1_sgd_pruning", "control_e1_shared_feature"} <= set(names)
    with pytest.raises(ValueError, match="case1_exact"):
        checks.get_check("no_such_check")


@pytest.mark.parametrize("name", ["control_wrong_bound", "control_broken_distribution", "control_nonconvex_loss",
                                  "control_e1_wrong_bound", "control_e1_shared_feature", "control_e1_feat_exp"])
def test_controls_detect_their_violation(name, monkeypatch):
    monkeypatch.setattr(check_basics, "MC_SAMPLES", 50_000)
    result = checks.run_check(name)
    assert result.passed and result.name.startswith("control"), result


def test_run_check_is_seeded(monkeypatch):
    monkeypatch.setattr(check_basics, "MC_SAMPLES", 20_000)
    assert checks.run_check("mc_exact_hinge", seed=3) == checks.run_check("mc_exact_hinge", seed=3)


def test_cli_prints_table_and_writes_json(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "CHECKS", [checks.get_check(name) for name in FAST])
    out = tmp_path / "theory.json"
    result = CliRunner().invoke(app, ["theory", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "4/4 checks passed" in result.output and "eq. 11" in result.output and "E.1" in result.output
    rows = json.loads(out.read_text())
    assert [r["passed"] for r in rows] == [True] * 4
    assert {"name", "equation", "measure", "value", "tolerance", "passed"} <= set(rows[0])


def test_cli_exit_status_is_nonzero_when_a_check_fails(monkeypatch):
    failing = checks.Check("always_fails", lambda rng: checks.CheckResult(
        "deliberately failing", "eq. 0", "value", float("inf"), 1.0, False))
    monkeypatch.setattr(checks, "CHECKS", [checks.get_check("case1_exact"), failing])
    result = CliRunner().invoke(app, ["theory"])
    assert result.exit_code == 1
    assert "1/2 checks passed" in result.output and "NO" in result.output


def test_result_json_handles_infinite_values():
    row = checks.CheckResult("x", "eq. 1", "z", float("inf"), 4.0, False).as_dict()
    assert json.loads(json.dumps(row))["value"] == "inf"


def test_z_scores_edge_cases():
    assert np.array_equal(checks.z_scores([0.0, 1.0, -2.0], [0.0, 0.0, 1.0]), [0.0, np.inf, 2.0])


def test_cli_rejects_a_json_path_in_a_missing_folder(tmp_path):
    result = CliRunner().invoke(app, ["theory", "--json", str(tmp_path / "no" / "such.json")])
    text = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "does not exist" in text
