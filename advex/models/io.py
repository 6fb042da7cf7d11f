"""Save and load models as safetensors weights plus a JSON card, atomically and without executing code.

A model ``stem`` is stored as ``stem.safetensors`` (weights) and ``stem.json`` (card:
architecture, data set, training mode, eps, lambda, seed, protocol, metrics, library
versions, and the SHA-256 of the weights file). Loading never unpickles.

``compress=True`` stores the weights as ``stem.safetensors.xz``: the same safetensors bytes,
losslessly xz-compressed (LZMA2 with 2-byte literal positions, which suits float16 data); loading
decompresses in memory. The card's SHA-256 is that of the stored (compressed) file.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import platform
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file, save_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from advex.errors import ModelFileError
from advex.models.registry import build_model

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
COMPRESSED_WEIGHTS_SUFFIX = ".safetensors.xz"
# lp=1, pb=1: literal/position statistics per byte parity, i.e. separate models for the low and high bytes of fp16.
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 3, "lp": 1, "pb": 1}]


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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    ``card`` gets the model's ``architecture()``, library versions and the weights' SHA-256.
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
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        atomic_write_bytes(weights_path, lzma.compress(safetensors_bytes(tensors), format=lzma.FORMAT_XZ, filters=XZ_FILTERS))
    else:
        _save_safetensors_atomically(tensors, weights_path)
    full_card = {
        **card,
        "architecture": model.architecture(),
        "weights_file": weights_path.name,
        "weights_sha256": sha256_file(weights_path),
        "weights_dtype": str(dtype or next(iter(tensors.values())).dtype).replace("torch.", ""),
        "weights_compression": "xz" if compress else None,
        "library_versions": library_versions(),
    }
    atomic_write_json(card_path, full_card)
    return weights_path


def _save_safetensors_atomically(tensors: dict[str, torch.Tensor], weights_path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=weights_path.parent, prefix=f".{weights_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, weights_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_card(stem: str | Path) -> dict:
    """Read and parse ``stem.json``; a missing or malformed card raises :class:`ModelFileError`."""
    card_path = stem_path(stem, CARD_SUFFIX)
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"model card {card_path} is missing; re-save or re-train the model") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"model card {card_path} is not valid JSON ({err}); delete it and re-train") from None
    if not isinstance(card, dict) or "architecture" not in card:
        raise ModelFileError(f"model card {card_path} has no 'architecture' entry; delete it and re-train")
    return card


def load_model(stem: str | Path, map_location: str | torch.device = "cpu", verify_hash: bool = True) -> tuple[nn.Module, dict]:
    """Rebuild a model from ``stem.json`` and load ``stem.safetensors`` (or ``.safetensors.xz``) into it (float32, eval mode)."""
    stem = Path(stem)
    card = read_card(stem)
    model = build_model(card["architecture"])
    compressed = str(card.get("weights_file", "")).endswith(".xz")
    weights_path = stem_path(stem, COMPRESSED_WEIGHTS_SUFFIX if compressed else WEIGHTS_SUFFIX)
    if not weights_path.exists():
        raise ModelFileError(f"weights file {weights_path} is missing; re-train the model or restore the file")
    if verify_hash and card.get("weights_sha256") and sha256_file(weights_path) != card["weights_sha256"]:
        raise ModelFileError(f"{weights_path} does not match the SHA-256 in its card: the file is corrupt or was replaced")
    try:
        if compressed:
            tensors = load_safetensors_bytes(lzma.decompress(weights_path.read_bytes()))
        else:
            tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError, lzma.LZMAError) as err:
        raise ModelFileError(f"{weights_path} is not a readable safetensors file ({err})") from None
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except RuntimeError as err:
        raise ModelFileError(f"{weights_path} does not fit architecture {card['architecture']}: {err}") from None
    return model.to(map_location).eval(), card
