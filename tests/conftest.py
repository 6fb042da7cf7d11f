"""Shared fixtures and helpers: the real data (skips with a reason when absent), small files in the real
formats (IDX, CIFAR-10 pickles), a tiny model zoo, confident random CNNs and the AppTest page opener."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from advex.models.cnn import MadryCNN
from advex.vocabulary import OUTPUTS, PAPER_OUTPUT, PAPER_REFERENCE, REFERENCES, table1_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "app.py")


# ---------------------------------------------------------------- real data


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


def require_dataset(data_dir: Path, relative: str) -> Path:
    """Skip (with the reason) unless ``data_dir/relative`` (a data set folder or one of its files) exists."""
    path = data_dir / relative
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return path


# ---------------------------------------------------------------- small files in the real formats

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
CIFAR_LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format by hand (independent of the reader under test)."""
    code = IDX_CODES[array.dtype]
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    """Write ``array`` as an IDX file at ``path`` (``path.gz``, gzipped, with ``compress``); returns the file."""
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_fake_mnist(root: Path, n_train: int = 30, n_test: int = 12, seed: int = 0) -> Path:
    """A tiny MNIST folder in the real IDX (.gz) format: bright squares whose position encodes the label."""
    rng = np.random.default_rng(seed)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, label in enumerate(labels):
            row, col = divmod(int(label), 5)
            images[i, 4 + 10 * row : 12 + 10 * row, 2 + 5 * col : 6 + 5 * col] = 255
        write_idx(folder / f"{part}-images-idx3-ubyte", images, compress=True)
        write_idx(folder / f"{part}-labels-idx1-ubyte", labels, compress=True)
    return root


def cifar_batch(images_per_batch: int, first_label: int) -> dict:
    """One CIFAR-10 batch dict as in the real files; the top-left red pixel numbers the image."""
    data = np.empty((images_per_batch, 3072), dtype=np.uint8)
    data[:, :1024], data[:, 1024:2048], data[:, 2048:] = 10, 20, 30  # channel-major R, G, B planes
    data[:, 0] = np.arange(images_per_batch)  # top-left red pixel numbers the image
    labels = [(first_label + i) % 10 for i in range(images_per_batch)]
    return {b"batch_label": b"batch", b"labels": labels, b"data": data,
            b"filenames": [b"img%d.png" % i for i in range(images_per_batch)]}


def write_fake_cifar(root: Path, per_batch: int = 3, n_test: int = 4) -> Path:
    """``root/cifar10/cifar-10-batches-py`` in the real pickle format: five train batches, a test batch, meta."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(cifar_batch(per_batch, i), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(cifar_batch(n_test, 0), protocol=2))
    meta = {b"num_cases_per_batch": per_batch, b"num_vis": 3072, b"label_names": CIFAR_LABEL_NAMES}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


# ---------------------------------------------------------------- models and the tiny zoo

TINY_ENTRIES = (("natural", 0.0, 0.0), ("l1", 0.0, 0.01), ("adv", 0.1, 0.0), ("adv", 0.3, 0.0))


def confident_cnn(seed: int = 0, scale: float = 20.0) -> MadryCNN:
    """A seeded random MadryCNN whose logits are scaled up so class probabilities move far from 1/10."""
    torch.manual_seed(seed)
    model = MadryCNN()
    with torch.no_grad():
        model.fc2.weight.mul_(scale)
    return model.eval()


def tiny_model(seed: int) -> MadryCNN:
    """A seeded random MadryCNN with a 16-unit hidden layer."""
    torch.manual_seed(seed)
    return MadryCNN(hidden=16).eval()


def build_tiny_zoo(root: Path, dataset: str = "mnist", n_images: int = 200) -> Path:
    """A zoo folder with four tiny models (``save_model`` + card) and a sample of ``n_images`` seeded random 'digits'."""
    from advex.models.io import save_model
    from advex.vocabulary import Setting
    from advex.zoo.build import write_sample

    rng = np.random.default_rng(0)
    X = (rng.random((n_images, 1, 28, 28)) ** 3).astype(np.float32)
    y = np.arange(n_images) % 10
    write_sample(dataset, X, y, root)
    for seed, (mode, eps, lam) in enumerate(TINY_ENTRIES):
        name = Setting(mode, eps=eps, lam=lam).name
        card = {"name": name, "dataset": dataset, "mode": mode, "eps": eps, "lam": lam, "protocol": "test",
                "steps": 0, "clean_accuracy": 0.1 + 0.01 * seed,
                "robust_accuracy": [{"attack": "pgd", "eps": 0.3, "accuracy": 0.01 * seed, "n_images": n_images}],
                "gini": {"ig": 0.5 + 0.05 * seed, "deepshap": 0.5 + 0.04 * seed, "reference": "black",
                         "output": "probability", "n_images": n_images}}
        save_model(tiny_model(seed), root / dataset / name, card)
    return root


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch) -> Path:
    """A tiny zoo as ADVEX_ZOO_DIR, a fresh cache and no image data (ADVEX_DATA_DIR points at nothing)."""
    root = build_tiny_zoo(tmp_path / "zoo")
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(root))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "no-data"))
    return root


# ---------------------------------------------------------------- dashboard pages


def open_app_page(page: str, params: dict, timeout: float = 120):
    """Run ``app.py`` in an AppTest switched to ``page`` with ``params`` as the URL's query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = str(value)
    return at.run()


def values(data) -> list:
    """A plotly JSON array: a list, or numpy's base64 form {"dtype", "bdata"}."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def charts(at) -> dict[str, dict]:
    """The page's plotly figures as JSON specs, by title."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def pytest_collection_modifyitems(config, items):
    """Real-browser tests run only with ADVEX_BROWSER_TESTS=1 (they need Debian's chromium and a few minutes)."""
    if os.environ.get("ADVEX_BROWSER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="real-browser test: set ADVEX_BROWSER_TESTS=1 (needs /usr/bin/chromium) to run it")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


# ---------------------------------------------------------------- ablation results and user models


def synthetic_rows(dataset: str = "mnist", seed: int = 0, n_images: int = 20) -> list[dict]:
    """`advex ablate` rows for every attribution, reference and output; dG = G(model) - G(n) as in run_ablation."""
    rng = np.random.default_rng(seed)
    settings = table1_settings(dataset)
    rows = []
    for attr in ("IG", "SHAP"):
        for reference in REFERENCES:
            for output in OUTPUTS:
                ginis = {"n": float(rng.uniform(0.5, 0.8))}
                ginis["l"] = ginis["n"] + float(rng.normal(0.01, 0.02))
                ginis["a"] = ginis["n"] + float(rng.normal(0.03, 0.03))
                for key, setting in settings.items():
                    natural = key == "n"
                    rows.append({
                        "dataset": dataset, "attr": attr, "reference": reference, "output": output, "model": key,
                        "eps": setting.eps, "lam": setting.lam, "mean_gini": ginis[key], "mean_gini_ci95": 0.01,
                        "dG": None if natural else ginis[key] - ginis["n"],
                        "dG_ci95": None if natural else float(rng.uniform(0.001, 0.02)), "n_images": n_images,
                        "seconds": 0.0, "pool": "zoo sample",
                        "paper_choice": reference == PAPER_REFERENCE and output == PAPER_OUTPUT})
    return rows


def write_rows(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))


def save_user_model(name: str, mode: str, eps: float, lam: float, robust: list[dict], gini: dict) -> None:
    from advex.models.io import save_model
    from advex.zoo.catalogue import user_models_dir

    card = {"name": name, "dataset": "mnist", "mode": mode, "eps": eps, "lam": lam, "protocol": "live", "steps": 5,
            "clean_accuracy": 0.5, "robust_accuracy": robust, "gini": gini, "trained_in": "dashboard"}
    save_model(tiny_model(9), user_models_dir() / "mnist" / name, card)
