"""``advex data list | fetch | verify`` through typer's CliRunner (no network)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import numpy as np
import pytest
from conftest import idx_bytes, require_dataset
from typer.testing import CliRunner

from advex.cli import app
from advex.data.registry import DATASETS
from advex.errors import DataFormatError, DataMissingError

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache or environment data directory leaks into these tests."""
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADVEX_DATA_DIR", raising=False)


def test_help_texts():
    for command in ([], ["list"], ["fetch"], ["verify"]):
        result = runner.invoke(app, ["data", *command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_list_reports_missing_with_the_fix(tmp_path):
    result = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    for name in DATASETS:
        assert f"advex data fetch {name}" in result.output
    assert str(tmp_path / "empty") in result.output and str(tmp_path / "cache" / "data") in result.output


def test_list_and_verify_real_data(data_dir):
    require_dataset(data_dir, "mushroom/agaricus-lepiota.data")
    listed = runner.invoke(app, ["data", "list", "--data-dir", str(data_dir)])
    assert listed.exit_code == 0, listed.output
    mushroom_line = next(line for line in listed.output.splitlines() if line.startswith("mushroom"))
    assert "found" in mushroom_line and str(data_dir / "mushroom") in mushroom_line
    checked = runner.invoke(app, ["data", "verify", "mushroom", "--data-dir", str(data_dir)])
    assert checked.exit_code == 0, checked.output
    assert "agaricus-lepiota.data: ok" in checked.output and "SHA-256 matches" in checked.output


def test_verify_missing_named_data_set_is_an_error(tmp_path):
    result = runner.invoke(app, ["data", "verify", "spambase", "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, DataMissingError)
    assert "advex data fetch spambase" in str(result.exception)


def test_fetch_then_verify_detects_damage(tmp_path, monkeypatch):
    labels = np.arange(5, dtype=np.uint8)
    remote = tmp_path / "labels.gz"
    remote.write_bytes(gzip.compress(idx_bytes(labels)))
    spec = DATASETS["mnist"]
    # only the test labels are served; the other three files are placed by hand
    data_root = tmp_path / "data"
    folder = data_root / "mnist"
    folder.mkdir(parents=True)
    sha, shapes = {}, {}
    for logical, name in spec.files.items():
        array = labels if logical.endswith("labels") else np.zeros((5, 28, 28), np.uint8)
        content = idx_bytes(array)
        sha[logical], shapes[logical] = (hashlib.sha256(content).hexdigest(),), array.shape
        if logical != "test_labels":
            (folder / name).write_bytes(content)
    fake = dataclasses.replace(spec, urls={"test_labels": remote.as_uri()}, sha256=sha, shapes=shapes)
    monkeypatch.setitem(DATASETS, "mnist", fake)

    fetched = runner.invoke(app, ["data", "fetch", "mnist", "--dest", str(data_root)])
    assert fetched.exit_code == 0, fetched.output
    assert f"ready in {folder}" in fetched.output and "--data-dir" in fetched.output
    assert (folder / "t10k-labels-idx1-ubyte.gz").is_file()

    ok = runner.invoke(app, ["data", "verify", "mnist", "--data-dir", str(data_root)])
    assert ok.exit_code == 0 and "4 files checked, all ok" in ok.output

    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels[::-1].copy()))
    damaged = runner.invoke(app, ["data", "verify", "mnist", "--data-dir", str(data_root)])
    assert isinstance(damaged.exception, DataFormatError)
    assert "train-labels-idx1-ubyte: FAIL" in damaged.output and "1 of 4" in str(damaged.exception)
