"""Where advex looks for data files, and the one clear error when they are not there.

Resolution order for a data set's folder ``<root>/<folder>/``: an explicit ``data_dir``, then
``$ADVEX_DATA_DIR``, then the per-user cache ``cache_dir()/"data"`` (where ``advex data fetch``
puts downloads). The first root that holds *all* of the data set's files wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from advex.data.registry import DATASETS, get_spec
from advex.errors import DataMissingError

CACHE_ENV = "ADVEX_CACHE_DIR"
DATA_ENV = "ADVEX_DATA_DIR"


def cache_dir() -> Path:
    """Per-user cache: ``$ADVEX_CACHE_DIR`` or ``~/.cache/advex``; downloaded data goes to ``cache_dir()/"data"``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "advex"


def data_search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Data roots in the order they are searched: ``data_dir``, ``$ADVEX_DATA_DIR``, ``cache_dir()/"data"``."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get(DATA_ENV)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir() / "data")
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def _find_in(root: Path, name: str) -> dict[str, Path] | None:
    spec = get_spec(name)
    folder = root / spec.folder
    found: dict[str, Path] = {}
    for logical in spec.files:
        hit = next((folder / c for c in spec.candidates(logical) if (folder / c).is_file()), None)
        if hit is None:
            return None
        found[logical] = hit
    return found


def locate(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Paths of the files of data set ``name`` (logical name -> file), from the first root that has all of them.

    Raises :class:`DataMissingError` naming the expected files, every place looked, and the fixes.
    """
    spec = get_spec(name)
    roots = data_search_dirs(data_dir)
    for root in roots:
        found = _find_in(root, name)
        if found is not None:
            return found
    expected = ", ".join(
        " or ".join(spec.candidates(logical)) for logical in spec.files
    )
    looked = "; ".join(str(root / spec.folder) for root in roots)
    raise DataMissingError(
        f"data set {name!r} not found: expected {expected} in a folder {spec.folder}/; "
        f"looked in: {looked}. Fix: run `advex data fetch {name}`, or put the files in "
        f"<dir>/{spec.folder}/ and pass --data-dir <dir> or set {DATA_ENV}=<dir>."
    )


def available_datasets(data_dir: str | os.PathLike | None = None) -> dict[str, bool]:
    """For every registered data set, whether all its files can be found."""
    status: dict[str, bool] = {}
    for name in DATASETS:
        try:
            locate(name, data_dir)
            status[name] = True
        except DataMissingError:
            status[name] = False
    return status
