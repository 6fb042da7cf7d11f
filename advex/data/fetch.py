"""Download the data sets from their canonical sources, check them, and only then move them into place.

A download goes to a temporary file next to its destination; it is checked (SHA-256 of the
uncompressed content where known, then parsed: shapes, row counts, labels) and only then renamed
atomically into ``<dest>/<folder>/``. A failed check or an interrupted download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from advex.data.images import cifar_class_names, parse_idx, read_cifar_batch, read_idx_bytes
from advex.data.paths import DATA_ENV, cache_dir, create_temp_file, locate
from advex.data.registry import CIFAR_BATCH_FOLDER, DatasetSpec, get_spec
from advex.data.tabular import parse_mushroom, parse_spambase
from advex.errors import DataFormatError, DataMissingError

TABULAR_PARSERS = {"mushroom": parse_mushroom, "spambase": parse_spambase}


@dataclass
class FileCheck:
    """Outcome of checking one data file: ``ok`` and a one-line ``detail``."""

    dataset: str
    logical: str
    path: Path
    ok: bool
    detail: str


def rows_digest(data: bytes) -> str:
    """Order-independent SHA-256 of a text table: sorted, stripped, non-blank lines joined by newlines."""
    lines = sorted(line.strip() for line in data.split(b"\n") if line.strip())
    return hashlib.sha256(b"\n".join(lines) + b"\n").hexdigest()


def _check_idx(spec: DatasetSpec, logical: str, path: Path) -> str:
    data = read_idx_bytes(path)  # size-bounded read and decompression
    digest = hashlib.sha256(data).hexdigest()
    known = spec.sha256.get(logical, ())
    if known and digest not in known:
        raise DataFormatError(f"{path}: SHA-256 {digest} of the content does not match the expected {known[0]}")
    shape = parse_idx(data, path).shape
    if shape != spec.shapes[logical]:
        raise DataFormatError(f"{path}: shape {shape}, expected {spec.shapes[logical]}")
    return f"SHA-256 matches, shape {shape}" if known else f"shape {shape} (no checksum recorded)"


def _check_tabular(spec: DatasetSpec, logical: str, path: Path) -> str:
    data = path.read_bytes()
    _, labels = TABULAR_PARSERS[spec.name](path)
    rows = int(labels.size)
    counts = {label: int((labels == label).sum()) for label in spec.class_counts}
    if rows != spec.shapes[logical][0] or counts != spec.class_counts:
        raise DataFormatError(
            f"{path}: {rows} rows with class counts {counts}, expected {spec.shapes[logical][0]} rows "
            f"with class counts {spec.class_counts}"
        )
    if hashlib.sha256(data).hexdigest() in spec.sha256.get(logical, ()):
        return f"SHA-256 matches, {rows} rows"
    if rows_digest(data) in spec.rows_sha256.get(logical, ()):
        return f"same rows as the reference copy (order or line endings differ), {rows} rows"
    return f"parsed: {rows} rows and class counts as expected; this copy has no recorded checksum"


def _check_cifar(spec: DatasetSpec, logical: str, path: Path) -> str:
    if logical == "meta":
        return f"{len(cifar_class_names(path.parent))} class names"
    images, _ = read_cifar_batch(path)
    if images.shape != spec.shapes[logical]:
        raise DataFormatError(f"{path}: {images.shape[0]} images, expected {spec.shapes[logical][0]}")
    return f"{images.shape[0]} images 3x32x32"


def check_file(name: str, logical: str, path: str | os.PathLike) -> FileCheck:
    """Check one file of data set ``name``: checksum where recorded, then parse it and compare shapes/labels."""
    spec, path = get_spec(name), Path(path)
    checker = {"mnist": _check_idx, "fashion-mnist": _check_idx, "cifar10": _check_cifar}.get(name, _check_tabular)
    try:
        return FileCheck(name, logical, path, True, checker(spec, logical, path))
    except DataFormatError as err:
        return FileCheck(name, logical, path, False, str(err))


def verify(name: str, data_dir: str | os.PathLike | None = None) -> list[FileCheck]:
    """Check every file of data set ``name`` where :func:`advex.data.paths.locate` finds it."""
    return [check_file(name, logical, path) for logical, path in locate(name, data_dir).items()]


def _manual_hint(url: str, target: Path) -> str:
    return (
        f"to install it by hand, download {url} and save it as {target} "
        f"(or put the data set's folder under a directory named by {DATA_ENV})"
    )


def _download(url: str, target: Path, progress: bool, final: Path) -> None:
    """Stream ``url`` into ``target`` with a progress bar, then fsync it; DataMissingError (URL, file, manual fix) on failure."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None, unit="B", unit_scale=True, unit_divisor=1024,
                desc=final.name, disable=not progress, leave=False,
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataMissingError(f"could not download {url} ({reason}); {_manual_hint(url, final)}") from None


def _temp_path(folder: Path, final: Path) -> Path:
    """A new empty file beside ``final`` (with the umask's permissions, unlike ``tempfile.mkstemp``'s 0600)."""
    fd, tmp = create_temp_file(folder, final.name, suffix=".part")
    os.close(fd)
    return tmp


def _present(spec: DatasetSpec, folder: Path) -> bool:
    """Whether ``folder`` already holds every file of ``spec`` and each passes its check."""
    for logical in spec.files:
        hit = next((folder / c for c in spec.candidates(logical) if (folder / c).is_file()), None)
        if hit is None or not check_file(spec.name, logical, hit).ok:
            return False
    return True


def _fetch_files(spec: DatasetSpec, folder: Path, progress: bool) -> None:
    for logical, url in spec.urls.items():
        final = folder / (spec.files[logical] + (".gz" if url.endswith(".gz") else ""))
        existing = next((folder / c for c in spec.candidates(logical) if (folder / c).is_file()), None)
        if existing is not None and check_file(spec.name, logical, existing).ok:
            continue
        tmp = _temp_path(folder, final)
        try:
            _download(url, tmp, progress, final)
            result = check_file(spec.name, logical, tmp)
            if not result.ok:
                raise DataFormatError(f"the download of {url} failed its check and was discarded: {result.detail}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_archive(spec: DatasetSpec, folder: Path, progress: bool) -> None:
    """CIFAR-10: download the tar.gz, check its MD5, extract the batch folder, check every batch, move it in."""
    url = spec.archive_url
    final = folder / CIFAR_BATCH_FOLDER
    work = Path(tempfile.mkdtemp(dir=folder, prefix=".cifar10-"))
    try:
        archive = work / Path(url).name
        _download(url, archive, progress, final)
        digest = _md5(archive)
        if digest != spec.archive_md5:
            raise DataFormatError(
                f"the download of {url} has MD5 {digest}, expected {spec.archive_md5}; it was discarded, "
                f"try again or {_manual_hint(url, folder / archive.name)} and unpack it there"
            )
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(CIFAR_BATCH_FOLDER + "/")]
                tar.extractall(work, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataFormatError(f"the download of {url} is not a readable tar.gz archive ({err})") from None
        for logical, relative in spec.files.items():
            result = check_file(spec.name, logical, work / relative)
            if not result.ok:
                raise DataFormatError(f"the download of {url} failed its check and was discarded: {result.detail}")
        if final.exists():
            stale = work / "stale"
            os.replace(final, stale)
        os.replace(work / CIFAR_BATCH_FOLDER, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch(name: str, dest: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Download data set ``name`` into ``<dest>/<folder>/`` (default ``cache_dir()/"data"``) and return that folder.

    Files already present that pass their check are kept; each new file is checked before it is
    moved into place. Offline or HTTP errors raise DataMissingError naming the URL and the manual fix;
    a file that fails its check raises DataFormatError and is discarded.
    """
    spec = get_spec(name)
    folder = (Path(dest).expanduser() if dest is not None else cache_dir() / "data") / spec.folder
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if _present(spec, folder):
        return folder
    try:
        if spec.archive_url:
            _fetch_archive(spec, folder, progress)
        else:
            _fetch_files(spec, folder, progress)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return folder
