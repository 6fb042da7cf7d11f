"""Save and load models as safetensors weights plus a JSON card, atomically and without executing code.

A model ``stem`` is stored as ``stem.safetensors`` (weights) and ``stem.json`` (card:
architecture, data set, training mode, eps, lambda, seed, protocol, metrics, library
versions, and the SHA-256 of the weights file). Loading never unpickles.

``compress=True`` stores the weights as ``stem.safetensors.xz``: the same safetensors bytes,
losslessly xz-compressed (LZMA2 with 2-byte literal positions, which suits float16 data); loading
decompresses in memory. The card's SHA-256 is that of the stored (compressed) file.

Loading trusts nothing in the files. The card is read only if it is a regular file of at most
``MAX_CARD_BYTES``, must be UTF-8 JSON, and is checked against a schema (:func:`validate_card`:
every field code reads, and the architecture's fields, types and bounds) before anything is
allocated. The weights file's safetensors header is then read alone and must list exactly the
tensors, dtypes and shapes the card's architecture implies (computed without allocating) before
the tensors are read and the model is built; an xz file is decompressed only as far as the
header says, under a memory limit. Every problem is one :class:`ModelFileError` naming the file,
the field and the fix.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as safetensors_bytes
from torch import nn

from advex.data.paths import create_temp_file, open_regular_file
from advex.errors import ModelFileError
from advex.models.registry import TensorSpec, build_model, expected_state
from advex.vocabulary import ALL_DATASETS, MODES

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
COMPRESSED_WEIGHTS_SUFFIX = ".safetensors.xz"
# lp=1, pb=1: literal/position statistics per byte parity, i.e. separate models for the low and high bytes of fp16.
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 3, "lp": 1, "pb": 1}]
XZ_MEMLIMIT = 256 * 2**20  # preset 9 needs a 64 MiB dictionary to decompress; refuse files asking for more
MAX_CARD_BYTES = 2 * 2**20  # a zoo card is ~20 KB (most of it the training log)
MAX_HEADER_BYTES = 2**20  # the safetensors JSON header of WRN-34-10 is ~25 KB
SAFETENSORS_ITEMSIZE = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I64": 8}  # dtypes a model's state may use
INTEGER_DTYPE = "I64"  # the only non-float entries are BatchNorm's num_batches_tracked
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a trained model, for its card."""
    import numpy

    import advex

    return {
        "advex": advex.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256_stream(handle)


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, rename, fsync the folder.

    Readers never see half a file; the file gets the permissions the umask gives new files (0644
    under umask 022); the temporary file is removed if anything (Ctrl-C included) interrupts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_file(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def stem_path(stem: str | Path, suffix: str) -> Path:
    """``stem`` + ``suffix``; unlike ``Path.with_suffix`` it keeps dots in names like ``adv_0.1``."""
    stem = Path(stem)
    return stem.parent / (stem.name + suffix)


def save_model(
    model: nn.Module, stem: str | Path, card: dict, dtype: torch.dtype | None = None, compress: bool = False
) -> Path:
    """Write ``stem.safetensors`` (``stem.safetensors.xz`` with ``compress``) and ``stem.json``; return the weights path.

    ``card`` gets the model's ``architecture()``, library versions and the weights' SHA-256; it is
    checked with :func:`validate_card` before anything is written, so every saved card loads.
    ``dtype`` (e.g. ``torch.float16``) casts floating tensors before saving.
    """
    stem = Path(stem)
    weights_path = stem_path(stem, COMPRESSED_WEIGHTS_SUFFIX if compress else WEIGHTS_SUFFIX)
    card_path = stem_path(stem, CARD_SUFFIX)
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor
    full_card = {
        **card,
        "architecture": model.architecture(),
        "weights_file": weights_path.name,
        "weights_dtype": str(dtype or next(iter(tensors.values())).dtype).replace("torch.", ""),
        "weights_compression": "xz" if compress else None,
        "library_versions": library_versions(),
    }
    validate_card(full_card, card_path)
    data = safetensors_bytes(tensors)
    if compress:
        data = lzma.compress(data, format=lzma.FORMAT_XZ, filters=XZ_FILTERS)
    atomic_write_bytes(weights_path, data)
    full_card["weights_sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_json(card_path, full_card)
    return weights_path


# ---------------------------------------------------------------- reading files that may be hostile


def _open_regular(path: Path, what: str, fix: str) -> BinaryIO:
    """Open ``path`` for reading if it is (or links to) a regular file; FIFOs, devices and folders are refused."""
    try:
        return open_regular_file(path)
    except FileNotFoundError:
        raise ModelFileError(f"{what} {path} is missing; {fix}") from None
    except OSError as err:
        raise ModelFileError(f"{what} {path} cannot be read ({err.strerror}); check it and its permissions, or {fix}") from None


def _read_exactly(handle, size: int, path: Path, part: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ModelFileError(f"{path} is truncated: its {part} needs {size} bytes, the file has {len(data)}; "
                             "restore the file or re-save the model")
    return data


class _XZReader:
    """The decompressed content of an xz stream, decompressed only as far as it is read, under ``XZ_MEMLIMIT``."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle, self._path = handle, path
        self._decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT)

    def read(self, size: int) -> bytes:
        parts, got = [], 0
        try:
            while got < size and not self._decompressor.eof:
                chunk = self._handle.read(1 << 16) if self._decompressor.needs_input else b""
                if self._decompressor.needs_input and not chunk:
                    break  # the compressed file ends early
                part = self._decompressor.decompress(chunk, max_length=size - got)
                parts.append(part)
                got += len(part)
        except lzma.LZMAError as err:
            raise ModelFileError(f"{self._path} is not a readable xz file ({err}); restore it or re-save the model") from None
        return b"".join(parts)


# ---------------------------------------------------------------- cards


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_at_least_zero(value: object) -> str | None:
    return None if _is_number(value) and math.isfinite(value) and value >= 0 else "a finite number >= 0"


def _count(value: object) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "an integer >= 0"


def _metric(value: object) -> str | None:
    """An accuracy-like metric: a number in [0, 1], or null / NaN for "not measured"."""
    if value is None or (_is_number(value) and (math.isnan(value) or 0 <= value <= 1)):
        return None
    return "a number from 0 to 1 (or null when not measured)"


def _duration(value: object) -> str | None:
    if value is None or (_is_number(value) and (math.isnan(value) or value >= 0)):
        return None
    return "a number of seconds >= 0 (or null)"


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and len(value) <= 1000 else "a string of at most 1000 characters"


def _name(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 200 and not set(value) & {"/", "\\", "\0"} and value not in (".", ".."):
        return None
    return "a file-name-like string (1 to 200 characters, no slashes)"


def _one_of(choices: tuple) -> object:
    def check(value: object) -> str | None:
        return None if value in choices else f"one of {', '.join(repr(c) for c in choices)}"

    return check


def _weights_file(value: object) -> str | None:
    if _name(value) is None and str(value).endswith((WEIGHTS_SUFFIX, COMPRESSED_WEIGHTS_SUFFIX)):
        return None
    return f"a file name ending in {WEIGHTS_SUFFIX} or {COMPRESSED_WEIGHTS_SUFFIX}"


def _sha256(value: object) -> str | None:
    return None if value is None or (isinstance(value, str) and SHA256_HEX.fullmatch(value)) else "64 lowercase hex digits"


def _robust_accuracy(value: object) -> str | None:
    expected = "a list of objects with 'eps' (a finite number >= 0) and 'accuracy' (a number from 0 to 1)"
    if not isinstance(value, list) or len(value) > 100:
        return expected
    for entry in value:
        if not isinstance(entry, dict) or _finite_at_least_zero(entry.get("eps")) or _metric(entry.get("accuracy")):
            return expected
    return None


def _gini(value: object) -> str | None:
    """Mean Gini indices (eq. I.67) per attribution method; the paper's two methods' values must lie in [0, 1]."""
    if isinstance(value, dict) and all(_metric(value.get(key)) is None for key in ("ig", "shap", "deepshap")):
        return None
    return "an object whose 'ig' and 'deepshap' (or 'shap') are numbers from 0 to 1 (or null)"


# The card fields advex's code reads, each with its check (None: fine, else what the value must be).
# Other fields (training log, protocol details, library versions...) are kept as they are.
CARD_FIELDS = {
    "name": _name, "dataset": _one_of(ALL_DATASETS), "mode": _one_of(MODES),
    "eps": _finite_at_least_zero, "lam": _finite_at_least_zero,
    "seed": _count, "steps": _count, "planned_steps": _count, "train_examples": _count, "test_examples": _count,
    "sample_size": _count, "stopped_early": _one_of((True, False)),
    "protocol": _text, "device": _text, "weights_dtype": _text, "data_credit": _text,
    "clean_accuracy": _metric, "sample_accuracy": _metric, "robust_accuracy": _robust_accuracy, "gini": _gini,
    "train_time_s": _duration, "time_per_step_s": _duration, "wall_time_s": _duration,
    "weights_file": _weights_file, "weights_sha256": _sha256, "weights_compression": _one_of((None, "xz")),
}


def validate_card(card: object, path: str | Path) -> dict:
    """``card`` (parsed JSON of the model card at ``path``) if it fits the schema, else :class:`ModelFileError`.

    Checks the architecture (known ``arch``, no unknown fields, integer fields within their bounds,
    at most ``MAX_PARAMETERS`` numbers; nothing is allocated) and every field in ``CARD_FIELDS``
    that is present (types, finite numbers, ranges). The error names ``path``, the field and the fix.
    """
    fix = "correct that field, or delete the card and re-train or re-save the model"
    if not isinstance(card, dict):
        raise ModelFileError(f"model card {path} must hold a JSON object, found {type(card).__name__}; {fix}")
    if "architecture" not in card:
        raise ModelFileError(f"model card {path} has no 'architecture' entry; {fix}")
    try:
        expected_state(card["architecture"])
    except ModelFileError as err:
        raise ModelFileError(f"model card {path}: {err}; {fix}") from None
    for key, check in CARD_FIELDS.items():
        if key in card and (problem := check(card[key])) is not None:
            raise ModelFileError(f"model card {path}: field {key!r} must be {problem}, found {_shorten(card[key])}; {fix}")
    return card


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_card(stem: str | Path) -> dict:
    """Read, parse and validate ``stem.json`` (see :func:`validate_card`); any problem raises :class:`ModelFileError`.

    The card must be a regular file (or a link to one) of at most ``MAX_CARD_BYTES``, in UTF-8 JSON.
    """
    card_path = stem_path(stem, CARD_SUFFIX)
    fix = "delete it and re-train or re-save the model"
    with _open_regular(card_path, "model card", "re-save or re-train the model") as handle:
        raw = handle.read(MAX_CARD_BYTES + 1)
    if len(raw) > MAX_CARD_BYTES:
        raise ModelFileError(f"model card {card_path} is larger than {MAX_CARD_BYTES // 2**20} MiB, far more than a card "
                             f"holds; {fix}")
    try:
        card = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ModelFileError(f"model card {card_path} is not UTF-8 text ({err.reason} at byte {err.start}); {fix}") from None
    except (json.JSONDecodeError, RecursionError, ValueError) as err:
        raise ModelFileError(f"model card {card_path} is not valid JSON ({type(err).__name__}: {err}); {fix}") from None
    return validate_card(card, card_path)


@dataclass
class CardScan:
    """The readable model cards found under a folder and one message per card that could not be read."""

    cards: list[tuple[Path, dict]] = field(default_factory=list)  # (stem, validated card)
    problems: list[str] = field(default_factory=list)


def scan_cards(root: str | Path, pattern: str = f"*/*{CARD_SUFFIX}") -> CardScan:
    """Read every card matching ``pattern`` under ``root`` (sorted); a broken card is skipped and reported, never raised."""
    scan = CardScan()
    root = Path(root)
    for card_path in sorted(root.glob(pattern)) if root.is_dir() else []:
        stem = card_path.parent / card_path.name[: -len(CARD_SUFFIX)]
        try:
            scan.cards.append((stem, read_card(stem)))
        except ModelFileError as err:
            scan.problems.append(str(err))
    return scan


# ---------------------------------------------------------------- weights


def _check_header(header: object, expected: dict[str, TensorSpec], path: Path) -> int:
    """The size of the tensor data that the safetensors ``header`` describes, after checking it against ``expected``."""
    fix = "the weights do not belong to this card: restore the matching files or re-save the model"
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the safetensors header is not a JSON object; {fix}")
    entries = {key: value for key, value in header.items() if key != "__metadata__"}
    missing, extra = sorted(set(expected) - set(entries)), sorted(set(entries) - set(expected))
    if missing or extra:
        raise ModelFileError(f"{path}: tensors missing {missing[:5]}, unexpected {extra[:5]} for the card's architecture; {fix}")
    spans = []
    for key, spec in expected.items():
        entry = entries[key]
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if dtype not in SAFETENSORS_ITEMSIZE or (dtype == INTEGER_DTYPE) == spec.floating:
            wanted = "a float dtype (F16, BF16, F32, F64)" if spec.floating else INTEGER_DTYPE
            raise ModelFileError(f"{path}: tensor {key!r} has dtype {_shorten(dtype)}, expected {wanted}; {fix}")
        if not isinstance(shape, list) or tuple(shape) != spec.shape:
            raise ModelFileError(f"{path}: tensor {key!r} has shape {_shorten(shape)}, the card's architecture needs "
                                 f"{list(spec.shape)}; {fix}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or offsets[1] - offsets[0] != spec.numel * SAFETENSORS_ITEMSIZE[dtype]):
            raise ModelFileError(f"{path}: tensor {key!r} has data offsets {_shorten(offsets)} that do not fit its "
                                 f"shape and dtype; the file is corrupt, restore it or re-save the model")
        spans.append(tuple(offsets))
    end = 0
    for begin, stop in sorted(spans):
        if begin != end:
            raise ModelFileError(f"{path}: the tensors' data offsets leave gaps or overlap; the file is corrupt, "
                                 "restore it or re-save the model")
        end = stop
    return end


def read_weights(path: Path, expected: dict[str, TensorSpec], compressed: bool, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file ``path`` (xz-compressed if ``compressed``), checked before they are read.

    The file must be regular; its SHA-256 must equal ``sha256`` (if given); its header must list
    exactly the ``expected`` entries with their shapes and suitable dtypes; its size must match the
    header. Only then is the tensor data read (so memory is bounded by what ``expected`` allows).
    """
    fix = "restore the file or re-save the model"
    with _open_regular(path, "weights file", "re-train the model or restore the file") as handle:
        limit = 8 + MAX_HEADER_BYTES + sum(s.numel for s in expected.values()) * max(SAFETENSORS_ITEMSIZE.values())
        if os.fstat(handle.fileno()).st_size > limit + 2**20:
            raise ModelFileError(f"{path} is far larger than the card's architecture allows; {fix}")
        if sha256 is not None:
            if _sha256_stream(handle) != sha256:
                raise ModelFileError(f"{path} does not match the SHA-256 in its card: the file is corrupt or was replaced; {fix}")
            handle.seek(0)
        stream = _XZReader(handle, path) if compressed else handle
        prefix = _read_exactly(stream, 8, path, "header length")
        header_size = int.from_bytes(prefix, "little")
        if header_size > MAX_HEADER_BYTES:
            raise ModelFileError(f"{path}: its safetensors header claims {header_size} bytes (at most {MAX_HEADER_BYTES}); "
                                 f"it is not a safetensors file advex wrote; {fix}")
        header_bytes = _read_exactly(stream, header_size, path, "header")
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise ModelFileError(f"{path} is not a readable safetensors file (header: {err}); {fix}") from None
        data = _read_exactly(stream, _check_header(header, expected, path), path, "tensor data")
        if stream.read(1):
            raise ModelFileError(f"{path} is longer than its safetensors header says; {fix}")
    try:
        return load_safetensors_bytes(prefix + header_bytes + data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{path} is not a readable safetensors file ({err}); {fix}") from None


def load_model(stem: str | Path, map_location: str | torch.device = "cpu", verify_hash: bool = True) -> tuple[nn.Module, dict]:
    """Rebuild a model from ``stem.json`` and load ``stem.safetensors`` (or ``.safetensors.xz``) into it (float32, eval mode).

    Order: the card is read and validated, the shapes its architecture implies are computed
    (nothing allocated), the weights file is hash-checked (``verify_hash``) and its header is
    checked against those shapes, and only then are the tensors read and the model built.
    """
    stem = Path(stem)
    card = read_card(stem)
    expected = expected_state(card["architecture"])
    compressed = str(card.get("weights_file", "")).endswith(".xz")
    weights_path = stem_path(stem, COMPRESSED_WEIGHTS_SUFFIX if compressed else WEIGHTS_SUFFIX)
    sha256 = card.get("weights_sha256") if verify_hash else None
    tensors = read_weights(weights_path, expected, compressed, sha256)
    model = build_model(card["architecture"])
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except RuntimeError as err:
        raise ModelFileError(f"{weights_path} does not fit architecture {card['architecture']}: {err}") from None
    return model.to(map_location).eval(), card
