"""Shared fixtures: where the real data lives, and skips with a reason when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path | None:
    """$ADVEX_DATA_DIR if set, else ../shared/data beside the repository, else None."""
    configured = os.environ.get("ADVEX_DATA_DIR")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate.resolve() if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory; tests that use it skip with a reason when it is absent."""
    directory = real_data_dir()
    if directory is None:
        pytest.skip("real data not found: set ADVEX_DATA_DIR or place ../shared/data beside the repo")
    return directory


def require_dataset(data_dir: Path, folder: str) -> Path:
    """Skip (with the reason) unless ``data_dir/folder`` exists."""
    path = data_dir / folder
    if not path.is_dir():
        pytest.skip(f"data set folder {path} is missing")
    return path


def pytest_collection_modifyitems(config, items):
    """Real-browser tests run only with ADVEX_BROWSER_TESTS=1 (they need Debian's chromium and a few minutes)."""
    if os.environ.get("ADVEX_BROWSER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="real-browser test: set ADVEX_BROWSER_TESTS=1 (needs /usr/bin/chromium) to run it")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
