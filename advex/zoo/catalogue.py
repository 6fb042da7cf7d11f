"""The model catalogue, read-only: the pretrained zoo shipped with advex and the user's own models.

Layout of a model folder (the zoo's, ``pretrained/`` inside the installed package, or the user's,
``user_models_dir()``)::

    index.json                                 what the zoo holds (zoo only)
    <dataset>/<name>.safetensors[.xz]          weights (the zoo's: float16, losslessly xz-compressed)
    <dataset>/<name>.json                      the card
    <dataset>/sample.safetensors               200 test images (uint8) + labels + test indices (zoo only)

Without the data sets on disk, the shipped samples are the pool models are evaluated on
(:func:`load_eval_images`). Names follow :attr:`advex.vocabulary.Setting.name` (``natural``, ``l1_<lam>``, ``adv_<eps>``); models
trained in the dashboard add protocol, steps and time. A model is named by an id: ``<dataset>/<name>``
(zoo first, then the user's folder), or the path of its files' stem.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_numpy_file
from torch import nn

from advex.errors import AdvexError, DataMissingError, ModelFileError
from advex.evaluation.images import EvalImages
from advex.models.io import CARD_SUFFIX, COMPRESSED_WEIGHTS_SUFFIX, WEIGHTS_SUFFIX, load_model, scan_cards, stem_path
from advex.vocabulary import Setting

ZOO_ENV = "ADVEX_ZOO_DIR"
SAMPLE_FILE = "sample.safetensors"
SAMPLE_SIZE = 200

# The zoo: the paper's network for MNIST and Fashion-MNIST, natural, l1 at the paper's lambda 0.01 and at 0.001,
# adversarial at four eps including the paper's (MNIST 0.3, Fashion-MNIST 0.1).
ZOO_MODELS: dict[str, tuple[Setting, ...]] = {
    "mnist": (
        Setting("natural"), Setting("l1", lam=0.01), Setting("l1", lam=0.001),
        Setting("adv", eps=0.05), Setting("adv", eps=0.1), Setting("adv", eps=0.2), Setting("adv", eps=0.3),
    ),
    "fashion-mnist": (
        Setting("natural"), Setting("l1", lam=0.01), Setting("l1", lam=0.001),
        Setting("adv", eps=0.02), Setting("adv", eps=0.05), Setting("adv", eps=0.1), Setting("adv", eps=0.2),
    ),
}


def zoo_dir() -> Path:
    """The zoo folder: ``$ADVEX_ZOO_DIR``, else ``pretrained/`` shipped inside the installed advex package."""
    configured = os.environ.get(ZOO_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(str(resources.files("advex").joinpath("pretrained")))


def user_models_dir() -> Path:
    """Folder of the user's own models (dashboard, ``advex train``): ``cache_dir()/"models"``."""
    from advex.data.paths import cache_dir

    return cache_dir() / "models"


def cards_in(folder: Path, source: str, dataset: str | None = None, problems: list[str] | None = None) -> list[dict]:
    """Readable cards under ``folder`` (of ``dataset``), with ``source`` and ``stem``; unreadable ones go to ``problems``."""
    scan = scan_cards(folder, f"{dataset or '*'}/*{CARD_SUFFIX}")
    if problems is not None:
        problems.extend(scan.problems)
    return [{**card, "name": card.get("name", stem.name), "dataset": card.get("dataset", stem.parent.name),
             "source": source, "stem": str(stem)} for stem, card in scan.cards]


def list_models(dataset: str | None = None, include_user: bool = True, problems: list[str] | None = None) -> list[dict]:
    """Cards of the zoo's models (and the user's), each with ``source`` ("zoo"/"user") and ``stem`` added.

    A card that cannot be read is skipped; its message is appended to ``problems`` when given.
    """
    cards = cards_in(zoo_dir(), "zoo", dataset, problems)
    if include_user:
        cards += cards_in(user_models_dir(), "user", dataset, problems)
    return cards


def load_zoo_model(dataset: str, name: str, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Model ``name`` of ``dataset`` from the zoo, else from the user folder: ``(model in eval mode, card)``."""
    for root in (zoo_dir(), user_models_dir()):
        stem = root / dataset / name
        if stem_path(stem, CARD_SUFFIX).exists():
            return load_model(stem, map_location=map_location)
    known = ", ".join(c["name"] for c in list_models(dataset)) or "none"
    raise ModelFileError(
        f"no model {name!r} for {dataset} in {zoo_dir()} or {user_models_dir()} (available: {known}); "
        "rebuild the zoo with `advex zoo build` or train one with `advex train`"
    )


def resolve_model(model_id: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict, str]:
    """Load a model named by a zoo id (``mnist/adv_0.3``), a user model id, or a file stem (suffix optional).

    Returns ``(model in eval mode, card, id)``. A file stem wins when its card exists.
    """
    text = os.fspath(model_id)
    if not text.strip():
        raise AdvexError("no model given: pass a zoo id like mnist/adv_0.3 (see `advex zoo list`) or a model file")
    for suffix in (COMPRESSED_WEIGHTS_SUFFIX, WEIGHTS_SUFFIX, CARD_SUFFIX):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    stem = Path(text).expanduser()
    if stem_path(stem, CARD_SUFFIX).exists():
        model, card = load_model(stem, map_location=map_location)
        return model, card, str(stem)
    dataset, _, name = text.partition("/")
    known_dataset = dataset in ZOO_MODELS or (user_models_dir() / dataset).is_dir()
    if not known_dataset or not name or "/" in name:
        raise ModelFileError(
            f"no model {text!r}: give a zoo id like mnist/adv_0.3 (see `advex zoo list`) "
            "or the path of a saved model (its .safetensors/.json stem)"
        )
    model, card = load_zoo_model(dataset, name, map_location=map_location)
    return model, card, text


def load_sample(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The shipped test sample of ``dataset``: images float32 (N, C, H, W) in [0, 1] and int64 labels."""
    path = zoo_dir() / dataset / SAMPLE_FILE
    try:
        arrays = load_numpy_file(str(path))
    except FileNotFoundError:
        raise ModelFileError(f"the zoo has no sample for {dataset!r} ({path}); samples exist for "
                             f"{', '.join(ZOO_MODELS)}; rebuild with `advex zoo build`") from None
    except (SafetensorError, OSError) as err:
        raise ModelFileError(f"{path} is not a readable sample file ({err}); rebuild it with `advex zoo build`") from None
    images = arrays["images"].astype(np.float32)
    np.divide(images, np.float32(255), out=images)
    return images, arrays["labels"].astype(np.int64)


def select_sample(y_test: np.ndarray, size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """Sorted test indices of a class-stratified sample: ``size // n_classes`` images per class, seeded."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y_test)
    per_class = size // len(classes)
    chosen = [rng.choice(np.flatnonzero(y_test == c), size=per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


def describe_zoo_size(out_dir: Path | None = None) -> int:
    """Total bytes of the files under the zoo folder."""
    out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    return sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())


def zoo_jobs(datasets: tuple[str, ...], names: tuple[str, ...] | None = None) -> list[tuple[str, Setting]]:
    """The (data set, setting) pairs of the zoo to build, in order; an error when nothing matches."""
    unknown = [d for d in datasets if d not in ZOO_MODELS]
    if unknown:
        raise AdvexError(f"the zoo holds {', '.join(ZOO_MODELS)}; got {unknown}")
    jobs = [(d, s) for d in datasets for s in ZOO_MODELS[d] if not names or s.name in names]
    if not jobs:
        raise AdvexError(f"no zoo model matches {list(names or ())}; names are e.g. natural, l1_0.01, adv_0.3")
    return jobs


def load_eval_images(dataset: str, data_dir=None, seed: int = 0) -> EvalImages:
    """The full test set and the training images; without the data on disk, the zoo's test-image sample."""
    from advex.data.images import load_image_dataset

    try:
        data = load_image_dataset(dataset, data_dir=data_dir, seed=seed)
    except DataMissingError as missing:
        try:
            return zoo_sample_images(dataset, seed)
        except ModelFileError:
            raise missing from None
    return EvalImages(dataset, data.X_test, data.y_test, "test set", data.X_train,
                      f"the {len(data.y_train)} training images")


def zoo_sample_images(dataset: str, seed: int = 0) -> EvalImages:
    """The zoo's shipped test sample; a seeded half of it stands in for the training images."""
    X, y = load_sample(dataset)
    reserved = np.sort(np.random.default_rng(seed + 1).permutation(len(y))[: len(y) // 2])
    return EvalImages(
        dataset, X, y, "zoo sample", X[reserved],
        f"{len(reserved)} images of the zoo's test sample, never evaluated (training data absent)", reserved,
    )
