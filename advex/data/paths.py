"""Where advex looks for data files, the one clear error when they are not there, and how new files are created.

Resolution order for a data set's folder ``<root>/<folder>/``: an explicit ``data_dir``, then
``$ADVEX_DATA_DIR``, then the per-user cache ``cache_dir()/"data"`` (where ``advex data fetch``
puts downloads). The first root that holds *all* of the data set's files wins. Within a root,
the data set's ``folder`` is searched first, then its ``also_in`` folders (CIFAR-10's
``cifar-10-batches-py`` may also sit directly in the root, as the official archive extracts).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

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


def create_temp_file(folder: Path, name: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """Create a new, empty ``folder/.<name>.<random><suffix>`` exclusively for writing; return its descriptor and path.

    Unlike ``tempfile.mkstemp`` (always mode 0600), the file gets the permissions the process umask
    gives any new file (0644 under umask 022), and so does a file renamed into place from it.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = Path(folder) / f".{name[:200]}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {folder}")


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for binary reading if it is, or links to, a regular file.

    Folders, devices (``/dev/zero``) and pipes raise :class:`OSError` ("not a regular file ...")
    instead of being read forever or blocking: a pipe is opened without waiting for a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a folder, device or pipe)", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _find_in(root: Path, name: str) -> dict[str, Path] | None:
    spec = get_spec(name)
    for relative in spec.folders():
        folder = root / relative
        found = {}
        for logical in spec.files:
            hit = next((folder / c for c in spec.candidates(logical) if (folder / c).is_file()), None)
            if hit is None:
                break
            found[logical] = hit
        else:
            return found
    return None


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
    places = " or ".join("the data directory itself" if folder == "." else f"a folder {folder}/" for folder in spec.folders())
    looked = "; ".join(str(root / folder) for root in roots for folder in spec.folders())
    raise DataMissingError(
        f"data set {name!r} not found: expected {expected} in {places}; "
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
