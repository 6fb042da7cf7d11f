"""The two tabular data sets of the paper (Appendix J.1): UCI Mushroom and UCI Spambase.

Mushroom: 22 categorical attributes, one-hot encoded ("exploded" space of Appendix H), label
1 = edible, 0 = poisonous. Spambase: 57 numeric attributes standardised with the training
mean/std, label 1 = spam. Both are split 70/30, seeded and stratified (J.1). ``feat_trans=True``
additionally applies the feature translation of Assumption FEAT-TRANS (Section 2).

The authors' code (github jfc43/advex, One-layer-Experiments) prepares the data differently; the
loaders can follow it: a 20% test split and then 20% of the rest for validation, unstratified
(``test_size=0.2, val_size=0.2, stratify=False``); Mushroom label-encoded by the values' full
names and 1 = poisonous (``encoding="authors"``); Spambase standardised with the statistics of a
random 75% of the rows (``scaling="authors"``, how their train.csv was made).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from advex.data.paths import locate, open_regular_file
from advex.data.registry import DATASETS
from advex.errors import AdvexError, DataFormatError

# UCI agaricus-lepiota.names: attribute -> {code: meaning}; '?' is a missing stalk-root, kept as its own value.
MUSHROOM_ATTRIBUTES: dict[str, dict[str, str]] = {
    "cap-shape": {"b": "bell", "c": "conical", "x": "convex", "f": "flat", "k": "knobbed", "s": "sunken"},
    "cap-surface": {"f": "fibrous", "g": "grooves", "y": "scaly", "s": "smooth"},
    "cap-color": {
        "n": "brown", "b": "buff", "c": "cinnamon", "g": "gray", "r": "green",
        "p": "pink", "u": "purple", "e": "red", "w": "white", "y": "yellow",
    },
    "bruises": {"t": "bruises", "f": "no"},
    "odor": {
        "a": "almond", "l": "anise", "c": "creosote", "y": "fishy", "f": "foul",
        "m": "musty", "n": "none", "p": "pungent", "s": "spicy",
    },
    "gill-attachment": {"a": "attached", "d": "descending", "f": "free", "n": "notched"},
    "gill-spacing": {"c": "close", "w": "crowded", "d": "distant"},
    "gill-size": {"b": "broad", "n": "narrow"},
    "gill-color": {
        "k": "black", "n": "brown", "b": "buff", "h": "chocolate", "g": "gray", "r": "green",
        "o": "orange", "p": "pink", "u": "purple", "e": "red", "w": "white", "y": "yellow",
    },
    "stalk-shape": {"e": "enlarging", "t": "tapering"},
    "stalk-root": {
        "b": "bulbous", "c": "club", "u": "cup", "e": "equal", "z": "rhizomorphs", "r": "rooted", "?": "missing",
    },
    "stalk-surface-above-ring": {"f": "fibrous", "y": "scaly", "k": "silky", "s": "smooth"},
    "stalk-surface-below-ring": {"f": "fibrous", "y": "scaly", "k": "silky", "s": "smooth"},
    "stalk-color-above-ring": {
        "n": "brown", "b": "buff", "c": "cinnamon", "g": "gray", "o": "orange",
        "p": "pink", "e": "red", "w": "white", "y": "yellow",
    },
    "stalk-color-below-ring": {
        "n": "brown", "b": "buff", "c": "cinnamon", "g": "gray", "o": "orange",
        "p": "pink", "e": "red", "w": "white", "y": "yellow",
    },
    "veil-type": {"p": "partial", "u": "universal"},
    "veil-color": {"n": "brown", "o": "orange", "w": "white", "y": "yellow"},
    "ring-number": {"n": "none", "o": "one", "t": "two"},
    "ring-type": {
        "c": "cobwebby", "e": "evanescent", "f": "flaring", "l": "large",
        "n": "none", "p": "pendant", "s": "sheathing", "z": "zone",
    },
    "spore-print-color": {
        "k": "black", "n": "brown", "b": "buff", "h": "chocolate", "r": "green",
        "o": "orange", "u": "purple", "w": "white", "y": "yellow",
    },
    "population": {
        "a": "abundant", "c": "clustered", "n": "numerous", "s": "scattered", "v": "several", "y": "solitary",
    },
    "habitat": {
        "g": "grasses", "l": "leaves", "m": "meadows", "p": "paths", "u": "urban", "w": "waste", "d": "woods",
    },
}
MUSHROOM_LABELS = {"p": 0, "e": 1}
# "uci": each attribute's one-hot columns in the order of the UCI codes, label 1 = edible (J.1).
# "authors": in the order of the values' full names ('?' first), label 1 = poisonous: the
# label-encoding of the authors' mushroom/all.csv (a multiset of rows equal to this file so encoded).
MUSHROOM_ENCODINGS = ("uci", "authors")
# "train": Spambase standardised with the training part's mean/std. "authors": with those of a seeded
# random 75% of all rows (sklearn's default split in their utils.split_and_standardize, which made
# their train.csv); their all.csv itself is not public.
SPAMBASE_SCALINGS = ("train", "authors")

# UCI spambase.names, in file order (the 58th column is the label).
SPAMBASE_FEATURES: list[str] = (
    [
        f"word_freq_{word}"
        for word in (
            "make address all 3d our over remove internet order mail receive will people report addresses "
            "free business email you credit your font 000 money hp hpl george 650 lab labs telnet 857 data "
            "415 85 technology 1999 parts pm direct cs meeting original project re edu table conference"
        ).split()
    ]
    + [f"char_freq_{char}" for char in (";", "(", "[", "!", "$", "#")]
    + ["capital_run_length_average", "capital_run_length_longest", "capital_run_length_total"]
)


@dataclass
class TabularDataset:
    """A tabular data set split into train and test; labels are int {0,1} (the paper's y is ``2*label-1``).

    Model inputs relate to the file's values (Mushroom: the one-hot encoding) column-wise by
    ``X = (raw - offset) / scale``; the file loaders set both (FEAT-TRANS shift included), data
    built in memory may leave them None. ``X_val``/``y_val`` hold a validation part when the split
    makes one (the authors' protocol; nothing trains or selects on it), else None.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    feature_groups: list[str]
    label_names: tuple[str, str]
    credit: str
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def group_index(self) -> dict[str, list[int]]:
        """Columns of each feature group, in column order (a categorical attribute's one-hot columns)."""
        groups: dict[str, list[int]] = {}
        for column, group in enumerate(self.feature_groups):
            groups.setdefault(group, []).append(column)
        return groups


def feat_trans_offset(X_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """The translation c_i = [E(x'_i|y=1) + E(x'_i|y=-1)]/2 of Assumption FEAT-TRANS (Section 2; Lemma 1, App. B.2).

    Class means come from the given (training) data; label 1 is y=+1, any other label is y=-1.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    positive = np.asarray(y_train) == 1
    if positive.all() or not positive.any():
        raise AdvexError("FEAT-TRANS needs training examples of both classes (labels 1 and 0)")
    return (X_train[positive].mean(axis=0) + X_train[~positive].mean(axis=0)) / 2.0


def feat_trans(X_train: np.ndarray, y_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Translate features per Assumption FEAT-TRANS (Section 2): x_i = x'_i - [E(x'_i|y=1) + E(x'_i|y=-1)]/2.

    The offset is computed on ``(X_train, y_train)`` only and applied to ``X_train`` and every array in
    ``others`` (e.g. the test set). Afterwards E(x_i|y) = a_i y on the training data (eq. 3 / B.23).
    Returns the translated arrays as a tuple, in the order given, with their dtype preserved.
    """
    offset = feat_trans_offset(X_train, y_train)
    return tuple(
        (np.asarray(X, dtype=np.float64) - offset).astype(np.asarray(X).dtype, copy=False)
        for X in (X_train, *others)
    )


MAX_TABLE_BYTES = 64 * 2**20  # the UCI files are under 1 MB


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines of a text data file with their 1-based line numbers; DataFormatError on binary junk.

    Only a regular file of at most ``MAX_TABLE_BYTES`` is read (a folder, device or pipe is refused).
    """
    try:
        with open_regular_file(path) as handle:
            raw = handle.read(MAX_TABLE_BYTES + 1)
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err.strerror or err}); "
                              "put the original data file there (`advex data fetch`)") from None
    if len(raw) > MAX_TABLE_BYTES:
        raise DataFormatError(f"{path}: larger than {MAX_TABLE_BYTES // 2**20} MiB, far beyond the UCI file; "
                              "replace it with the original data file")
    if not raw.strip():
        raise DataFormatError(f"{path}: line 1: the file is empty; replace it with the original data file")
    bad = raw.find(b"\x00")
    if bad < 0:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as err:
            bad = err.start
    if bad >= 0:
        line = raw.count(b"\n", 0, bad) + 1
        raise DataFormatError(
            f"{path}: line {line}: binary data (byte 0x{raw[bad]:02x} at offset {bad}) in a text data file; "
            "the file is corrupt, download it again with `advex data fetch`"
        )
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _format_error(path: Path, line: int, problem: str) -> DataFormatError:
    return DataFormatError(
        f"{path}: line {line}: {problem}; the file is not a valid copy of the original, "
        "replace it (e.g. `advex data fetch`)"
    )


def _check_option(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise AdvexError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
    return value


def parse_mushroom(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``agaricus-lepiota.data``: (codes (n, 22) str array, labels (n,) int64, 1 = edible).

    Every line must have the class (e/p) plus 22 values legal per the UCI names file.
    """
    path = Path(path)
    attributes = list(MUSHROOM_ATTRIBUTES)
    codes, labels = [], []
    for number, line in _read_lines(path):
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(attributes) + 1:
            expected = len(attributes) + 1
            raise _format_error(path, number, f"expected {expected} comma-separated values, found {len(fields)}")
        if fields[0] not in MUSHROOM_LABELS:
            raise _format_error(path, number, f"unknown class label {fields[0]!r} (expected 'e' or 'p')")
        for attribute, value in zip(attributes, fields[1:]):
            if value not in MUSHROOM_ATTRIBUTES[attribute]:
                legal = "".join(MUSHROOM_ATTRIBUTES[attribute])
                raise _format_error(path, number, f"illegal value {value!r} for {attribute} (legal: {legal})")
        labels.append(MUSHROOM_LABELS[fields[0]])
        codes.append(fields[1:])
    return np.array(codes, dtype="<U1"), np.array(labels, dtype=np.int64)


def one_hot_mushroom(codes: np.ndarray, encoding: str = "uci") -> tuple[np.ndarray, list[str], list[str]]:
    """One-hot encode (n, 22) attribute codes: one column per value present (117 for the UCI file, '?' and the
    constant veil-type included), ordered within each attribute by code (``uci``) or by the values' full
    names with '?' first (``authors``, their label-encoding)."""
    _check_option(encoding, MUSHROOM_ENCODINGS, "Mushroom encoding")
    blocks, names, groups = [], [], []
    for column, (attribute, meanings) in enumerate(MUSHROOM_ATTRIBUTES.items()):
        values = np.unique(codes[:, column])
        if encoding == "authors":
            values = np.array(sorted(values, key=lambda code: "?" if code == "?" else meanings[code]))
        position = {code: index for index, code in enumerate(values)}
        inverse = np.array([position[code] for code in codes[:, column]], dtype=np.int64)
        block = np.zeros((codes.shape[0], values.size), dtype=np.float32)
        block[np.arange(codes.shape[0]), inverse] = 1.0
        blocks.append(block)
        names.extend(f"{attribute}={value}" for value in values)
        groups.extend([attribute] * values.size)
    return np.concatenate(blocks, axis=1), names, groups


def parse_spambase(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``spambase.data``: (features (n, 57) float64, labels (n,) int64, 1 = spam)."""
    path = Path(path)
    n_columns = len(SPAMBASE_FEATURES) + 1
    rows, labels = [], []
    for number, line in _read_lines(path):
        fields = line.split(",")
        if len(fields) != n_columns:
            raise _format_error(path, number, f"expected {n_columns} comma-separated values, found {len(fields)}")
        values = []
        for column, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                raise _format_error(path, number, f"column {column}: {field.strip()!r} is not a number") from None
            if not np.isfinite(value):
                raise _format_error(path, number, f"column {column}: {field.strip()!r} is not a finite number")
            values.append(value)
        if values[-1] not in (0.0, 1.0):
            raise _format_error(path, number, f"unknown class label {fields[-1].strip()!r} (expected 0 or 1)")
        rows.append(values[:-1])
        labels.append(int(values[-1]))
    return np.array(rows, dtype=np.float64), np.array(labels, dtype=np.int64)


def _split_indices(
    path: Path, y: np.ndarray, seed: int, test_size: float, val_size: float = 0.0, stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Seeded train/validation/test split of row indices (scikit-learn ``train_test_split``).

    ``test_size`` of the rows go to test; then ``val_size`` of the rest to validation (none when 0).
    One ``RandomState(seed)`` draws both splits in turn, as the authors' code draws both from numpy's
    global generator; with ``val_size=0`` this is exactly ``train_test_split(..., random_state=seed)``.
    """
    if not 0.0 < test_size < 1.0:
        raise AdvexError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    if not 0.0 <= val_size < 1.0:
        raise AdvexError(f"val_size must be at least 0 and below 1, got {val_size}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise AdvexError(f"seed must be a whole number from 0 to 2**32 - 1, got {seed!r}")
    rng = np.random.RandomState(seed)
    try:
        rest, test = train_test_split(np.arange(y.size), test_size=test_size, stratify=y if stratify else None,
                                      random_state=rng)
        if val_size == 0.0:
            return rest, None, test
        train, val = train_test_split(rest, test_size=val_size, stratify=y[rest] if stratify else None, random_state=rng)
        return train, val, test
    except ValueError as err:
        counts = {int(label): int((y == label).sum()) for label in np.unique(y)}
        how = "with stratification" if stratify else "at random"
        raise DataFormatError(
            f"{path}: cannot split {y.size} rows (class counts {counts}) {1 - test_size:.0%}/{test_size:.0%} "
            f"{how} ({err}); the file is too short, replace it with the full data file"
        ) from None


def _finish(
    name: str, X: np.ndarray, y: np.ndarray, split: tuple[np.ndarray, np.ndarray | None, np.ndarray],
    names: list[str], groups: list[str], labels: tuple[str, str],
    offset: np.ndarray, scale: np.ndarray, translate: bool,
) -> TabularDataset:
    train, val, test = split
    shift = feat_trans_offset(X[train], y[train]) if translate else np.zeros(X.shape[1])
    X = X - shift
    return TabularDataset(
        name=name,
        X_train=X[train].astype(np.float32), y_train=y[train].astype(np.int64),
        X_test=X[test].astype(np.float32), y_test=y[test].astype(np.int64),
        feature_names=names, feature_groups=groups, label_names=labels,
        credit=DATASETS[name].credit,
        offset=np.asarray(offset + shift * scale, dtype=np.float64), scale=np.asarray(scale, dtype=np.float64),
        X_val=None if val is None else X[val].astype(np.float32),
        y_val=None if val is None else y[val].astype(np.int64),
    )


def load_mushroom(
    data_dir: str | os.PathLike | None = None, seed: int = 0, test_size: float = 0.3, feat_trans: bool = False,
    val_size: float = 0.0, stratify: bool = True, encoding: str = "uci",
) -> TabularDataset:
    """UCI Mushroom (App. J.1), one-hot encoded (columns "odor=n", groups "odor").

    ``encoding`` "uci": label 1 = edible (J.1); "authors": their column order and label 1 = poisonous.
    Split per :func:`_split_indices`; ``feat_trans`` applies Assumption FEAT-TRANS with training-set class means.
    """
    _check_option(encoding, MUSHROOM_ENCODINGS, "Mushroom encoding")
    path = locate("mushroom", data_dir)["data"]
    codes, y = parse_mushroom(path)
    X, names, groups = one_hot_mushroom(codes, encoding)
    labels = ("poisonous", "edible")
    if encoding == "authors":
        y, labels = 1 - y, ("edible", "poisonous")
    split = _split_indices(path, y, seed, test_size, val_size, stratify)
    d = X.shape[1]
    return _finish("mushroom", X.astype(np.float64), y, split, names, groups, labels, np.zeros(d), np.ones(d), feat_trans)


def load_spambase(
    data_dir: str | os.PathLike | None = None, seed: int = 0, test_size: float = 0.3, feat_trans: bool = False,
    val_size: float = 0.0, stratify: bool = True, scaling: str = "train",
) -> TabularDataset:
    """UCI Spambase (App. J.1): 57 numeric attributes standardised; label 1 = spam.

    ``scaling`` "train": with the training part's mean/std; "authors": with those of a random 75% of the
    rows (seeded). A constant column keeps scale 1 (no division by zero). ``feat_trans`` then applies
    Assumption FEAT-TRANS with training-set class means.
    """
    _check_option(scaling, SPAMBASE_SCALINGS, "Spambase scaling")
    path = locate("spambase", data_dir)["data"]
    raw, y = parse_spambase(path)
    split = _split_indices(path, y, seed, test_size, val_size, stratify)
    fitted_on = split[0] if scaling == "train" else train_test_split(np.arange(y.size), random_state=seed)[0]
    mean = raw[fitted_on].mean(axis=0)
    std = raw[fitted_on].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    X = (raw - mean) / std
    return _finish(
        "spambase", X, y, split, list(SPAMBASE_FEATURES), list(SPAMBASE_FEATURES), ("not spam", "spam"),
        mean, std, feat_trans,
    )


def load_tabular(
    name: str, data_dir: str | os.PathLike | None = None, seed: int = 0, test_size: float = 0.3,
    feat_trans: bool = False, **options,
) -> TabularDataset:
    """Load tabular data set ``name`` ("mushroom" or "spambase"); ``options`` go to :func:`load_mushroom`
    (val_size, stratify, encoding) or :func:`load_spambase` (val_size, stratify, scaling)."""
    loaders = {"mushroom": load_mushroom, "spambase": load_spambase}
    if name not in loaders:
        raise AdvexError(f"unknown tabular data set {name!r}; choose one of: {', '.join(loaders)}")
    return loaders[name](data_dir=data_dir, seed=seed, test_size=test_size, feat_trans=feat_trans, **options)
