"""Tabular loaders (App. J.1): Mushroom one-hot, Spambase scaling, 70/30 stratified split, FEAT-TRANS (Sec. 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import require_dataset

from advex.data.tabular import (
    MUSHROOM_ATTRIBUTES,
    SPAMBASE_FEATURES,
    feat_trans,
    load_mushroom,
    load_spambase,
    load_tabular,
    parse_mushroom,
)
from advex.errors import AdvexError, DataFormatError, DataMissingError


@pytest.fixture(scope="module")
def mushroom(data_dir):
    require_dataset(data_dir, "mushroom/agaricus-lepiota.data")
    return load_mushroom(data_dir)


@pytest.fixture(scope="module")
def spambase(data_dir):
    require_dataset(data_dir, "spambase/spambase.data")
    return load_spambase(data_dir)


# ---------------------------------------------------------------- Mushroom (real file)


def test_mushroom_rows_and_stratified_70_30_split(mushroom):
    y = np.concatenate([mushroom.y_train, mushroom.y_test])
    assert y.size == 8124
    assert mushroom.X_test.shape[0] == int(np.ceil(0.3 * 8124))
    assert set(np.unique(y)) == {0, 1}
    # stratified: both parts have the file's class balance up to one example
    overall = y.mean()
    assert abs(mushroom.y_train.mean() - overall) < 1.0 / mushroom.y_train.size + 1e-12
    assert abs(mushroom.y_test.mean() - overall) < 1.0 / mushroom.y_test.size + 1e-12
    assert mushroom.X_train.dtype == np.float32 and mushroom.y_train.dtype == np.int64
    assert mushroom.label_names == ("poisonous", "edible")


def test_mushroom_one_hot_names_and_groups(mushroom, data_dir):
    X = np.concatenate([mushroom.X_train, mushroom.X_test])
    assert set(np.unique(X)) == {0.0, 1.0}
    np.testing.assert_array_equal(X.sum(axis=1), np.full(X.shape[0], 22.0))
    names, groups = mushroom.feature_names, mushroom.feature_groups
    assert "odor=n" in names and "stalk-root=?" in names
    assert len(names) == len(set(names)) == mushroom.n_features
    assert all(name.split("=")[0] == group for name, group in zip(names, groups))
    index = mushroom.group_index()
    assert list(index) == list(MUSHROOM_ATTRIBUTES)
    assert sorted(col for cols in index.values() for col in cols) == list(range(mushroom.n_features))
    for cols in index.values():  # exactly one active value per attribute
        np.testing.assert_array_equal(X[:, cols].sum(axis=1), 1.0)
    # one column per value present in the file (independent count with pandas)
    frame = pd.read_csv(data_dir / "mushroom/agaricus-lepiota.data", header=None, dtype=str, keep_default_na=False)
    assert mushroom.n_features == int(frame.iloc[:, 1:].nunique().sum())


def test_mushroom_encoding_round_trips_to_the_file_rows(mushroom, data_dir):
    """Decoding every one-hot row (with its label) gives back exactly the multiset of lines in the file."""
    values = [name.split("=", 1)[1] for name in mushroom.feature_names]
    decoded = []
    for X, y in ((mushroom.X_train, mushroom.y_train), (mushroom.X_test, mushroom.y_test)):
        for row, label in zip(X, y):
            codes = [values[col] for col in np.flatnonzero(row)]
            decoded.append(",".join(["e" if label == 1 else "p", *codes]))
    lines = (data_dir / "mushroom/agaricus-lepiota.data").read_text().split()
    assert sorted(decoded) == sorted(lines)


def test_split_is_seeded(data_dir):
    require_dataset(data_dir, "mushroom/agaricus-lepiota.data")
    a, b, c = load_mushroom(data_dir, seed=3), load_mushroom(data_dir, seed=3), load_mushroom(data_dir, seed=4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)


# ---------------------------------------------------------------- Spambase (real file)


def test_spambase_rows_names_and_standardisation(spambase, data_dir):
    assert spambase.X_train.shape[0] + spambase.X_test.shape[0] == 4601
    assert spambase.n_features == 57
    assert spambase.feature_names == SPAMBASE_FEATURES and len(set(SPAMBASE_FEATURES)) == 57
    assert spambase.feature_names[0] == "word_freq_make"
    assert "char_freq_!" in spambase.feature_names
    assert spambase.feature_names[-1] == "capital_run_length_total"
    assert spambase.feature_groups == spambase.feature_names
    assert spambase.label_names == ("not spam", "spam")
    np.testing.assert_allclose(spambase.X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(spambase.X_train.std(axis=0), 1.0, atol=1e-4)
    assert np.abs(spambase.X_test.mean(axis=0)).max() > 1e-3  # test set uses the training statistics
    # X = (raw - offset) / scale recovers the file's rows, and offset/scale are the training mean/std
    raw = pd.read_csv(data_dir / "spambase/spambase.data", header=None).to_numpy()
    raw_train = spambase.X_train.astype(np.float64) * spambase.scale + spambase.offset
    raw_test = spambase.X_test.astype(np.float64) * spambase.scale + spambase.offset
    np.testing.assert_allclose(spambase.offset, raw_train.mean(axis=0), rtol=1e-5, atol=1e-6)
    rebuilt = np.concatenate([raw_train, raw_test])
    order = np.lexsort(np.round(rebuilt, 3).T[::-1])
    expected = raw[:, :-1][np.lexsort(np.round(raw[:, :-1], 3).T[::-1])]
    np.testing.assert_allclose(rebuilt[order], expected, rtol=1e-5, atol=1e-3)
    assert int(np.concatenate([spambase.y_train, spambase.y_test]).sum()) == int(raw[:, -1].sum()) == 1813


def test_load_tabular_dispatch_and_bad_arguments(data_dir):
    require_dataset(data_dir, "spambase/spambase.data")
    assert load_tabular("spambase", data_dir).name == "spambase"
    with pytest.raises(AdvexError, match="mushroom, spambase"):
        load_tabular("iris", data_dir)
    with pytest.raises(AdvexError, match="test_size"):
        load_tabular("spambase", data_dir, test_size=1.5)


# ---------------------------------------------------------------- FEAT-TRANS (Section 2, Lemma 1 of App. B.2)


def test_feat_trans_hand_computed():
    X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 3.0], [10.0, 3.0]])
    y = np.array([1, 1, 0, 0])
    X_test = np.array([[4.0, 2.0]])
    Xt, Xt_test = feat_trans(X, y, X_test)
    # class means: y=1 -> (1, 1), y=0 -> (7, 3); offset (4, 2)
    np.testing.assert_allclose(Xt, [[-4.0, -1.0], [-2.0, -1.0], [0.0, 1.0], [6.0, 1.0]])
    np.testing.assert_allclose(Xt_test, [[0.0, 0.0]])
    with pytest.raises(AdvexError, match="both classes"):
        feat_trans(X, np.ones(4, dtype=int))


@pytest.mark.parametrize("name", ["mushroom", "spambase"])
def test_feat_trans_makes_class_means_symmetric(data_dir, name):
    """Eq. 3 / B.23: E[x|y] = a y, i.e. E[x|y=1] = -E[x|y=0], with a = half the class-mean difference."""
    require_dataset(data_dir, f"{name}/{'agaricus-lepiota' if name == 'mushroom' else 'spambase'}.data")
    plain = load_tabular(name, data_dir, seed=1)
    trans = load_tabular(name, data_dir, seed=1, feat_trans=True)
    pos, neg = trans.y_train == 1, trans.y_train == 0
    m1 = trans.X_train[pos].astype(np.float64).mean(axis=0)
    m0 = trans.X_train[neg].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(m1, -m0, atol=1e-5)
    a = (plain.X_train[pos].astype(np.float64).mean(0) - plain.X_train[neg].astype(np.float64).mean(0)) / 2
    np.testing.assert_allclose(m1, a, atol=1e-5)
    assert np.abs(plain.X_train[pos].mean(0) + plain.X_train[neg].mean(0)).max() > 0.1  # not symmetric before
    # the test set moves by the same (training) offset
    shift = plain.X_test.astype(np.float64) - trans.X_test.astype(np.float64)
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-5)
    np.testing.assert_allclose(shift[0], (plain.X_train[pos].mean(0) + plain.X_train[neg].mean(0)) / 2, atol=1e-5)
    # offset/scale still map the file's values to the model inputs
    np.testing.assert_allclose(
        trans.X_train * trans.scale + trans.offset, plain.X_train * plain.scale + plain.offset, atol=1e-4
    )


# ---------------------------------------------------------------- malformed and missing files

GOOD_MUSHROOM = [
    "e,x,y,g,t,n,f,c,b,p,t,b,s,s,w,w,p,w,o,p,k,y,d",
    "p,k,s,e,f,y,f,c,n,b,t,?,s,k,p,p,p,w,o,e,w,v,d",
    "e,f,y,y,t,l,f,c,b,w,e,r,s,y,w,w,p,w,o,p,n,s,p",
    "p,x,s,n,t,p,f,c,n,k,e,e,s,s,w,w,p,w,o,p,k,s,u",
]
GOOD_SPAM = ["0,1.5," + ",".join(["0"] * 55) + ",1", "0.2,0," + ",".join(["1"] * 55) + ",0"]


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("agaricus-lepiota.data" if name == "mushroom" else "spambase.data")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    "lines, bad_line, message",
    [
        (GOOD_MUSHROOM[:2] + ["e,x,y,g,t"] + GOOD_MUSHROOM[2:], 3, "expected 23"),
        (GOOD_MUSHROOM[:1] + ["x" + GOOD_MUSHROOM[1][1:]] + GOOD_MUSHROOM[2:], 2, "unknown class label 'x'"),
        (GOOD_MUSHROOM[:3] + [GOOD_MUSHROOM[3].replace(",p,f,", ",Q,f,", 1)], 4, "illegal value 'Q' for odor"),
    ],
)
def test_malformed_mushroom_names_file_and_line(tmp_path, lines, bad_line, message):
    path = _write(tmp_path, "mushroom", "\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=message) as info:
        load_mushroom(tmp_path)
    assert str(path) in str(info.value) and f"line {bad_line}" in str(info.value)


@pytest.mark.parametrize(
    "content, bad_line, message",
    [
        (b"", 1, "empty"),
        (b"\n\n  \n", 1, "empty"),
        (("\n".join(GOOD_MUSHROOM[:1]) + "\n").encode() + b"\x00\x01\x02junk\n", 2, "binary"),
        (("\n".join(GOOD_MUSHROOM[:2]) + "\n").encode() + b"e,\xff\xfe\n", 3, "binary"),
    ],
)
def test_empty_or_binary_mushroom_file(tmp_path, content, bad_line, message):
    path = _write(tmp_path, "mushroom", content)
    with pytest.raises(DataFormatError, match=message) as info:
        load_mushroom(tmp_path)
    assert str(path) in str(info.value) and f"line {bad_line}" in str(info.value)


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ("0,1," + ",".join(["0"] * 54) + ",1", "expected 58"),
        ("0,abc," + ",".join(["0"] * 55) + ",1", "column 2: 'abc' is not a number"),
        ("0,nan," + ",".join(["0"] * 55) + ",1", "not a finite number"),
        ("0,1," + ",".join(["0"] * 55) + ",2", "unknown class label '2'"),
    ],
)
def test_malformed_spambase_names_file_and_line(tmp_path, bad_row, message):
    path = _write(tmp_path, "spambase", "\n".join(GOOD_SPAM + [bad_row] + GOOD_SPAM) + "\n")
    with pytest.raises(DataFormatError, match=message) as info:
        load_spambase(tmp_path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)


def test_short_but_well_formed_file_loads(tmp_path):
    _write(tmp_path, "mushroom", "\r\n".join(GOOD_MUSHROOM * 5) + "\r\n")
    data = load_mushroom(tmp_path, test_size=0.5)
    assert data.X_train.shape[0] + data.X_test.shape[0] == 20
    assert "stalk-root=?" in data.feature_names


def test_too_few_rows_to_stratify(tmp_path):
    path = _write(tmp_path, "spambase", "\n".join(GOOD_SPAM) + "\n")
    with pytest.raises(DataFormatError, match="cannot split") as info:
        load_spambase(tmp_path)
    assert str(path) in str(info.value)


def test_missing_data_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataMissingError) as info:
        load_mushroom(tmp_path / "explicit")
    message = str(info.value)
    assert "advex data fetch mushroom" in message and "agaricus-lepiota.data" in message
    for place in ("explicit", "env", "cache"):
        assert str(tmp_path / place) in message


# ---------------------------------------------------------------- the authors' preparation (One-layer-Experiments)

AUTHORS_SPLIT = {"test_size": 0.2, "val_size": 0.2, "stratify": False}


@pytest.mark.parametrize("name, sizes", [("mushroom", (5199, 1300, 1625)), ("spambase", (2944, 736, 921))])
def test_authors_split_sizes(data_dir, name, sizes):
    """20% test, then 20% of the rest for validation: the sizes their scripts print."""
    require_dataset(data_dir, name)
    data = load_tabular(name, data_dir, seed=2, **AUTHORS_SPLIT)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == sizes
    assert data.X_val.shape == (sizes[1], data.n_features)
    again = load_tabular(name, data_dir, seed=2, **AUTHORS_SPLIT)
    np.testing.assert_array_equal(again.X_val, data.X_val)  # seeded
    other = load_tabular(name, data_dir, seed=3, **AUTHORS_SPLIT)
    assert not np.array_equal(other.y_test, data.y_test)


def test_paper_split_is_train_test_split_with_the_seed_and_no_validation_part(mushroom, data_dir):
    from sklearn.model_selection import train_test_split

    assert mushroom.X_val is None and mushroom.y_val is None
    _, y = parse_mushroom(data_dir / "mushroom/agaricus-lepiota.data")
    _, test = train_test_split(np.arange(y.size), test_size=0.3, stratify=y, random_state=0)
    np.testing.assert_array_equal(mushroom.y_test, y[test])


def test_authors_mushroom_encoding(data_dir):
    """Their all.csv: codes in the order of the values' full names ('?' first), every column kept, 1 = poisonous."""
    require_dataset(data_dir, "mushroom")
    uci = load_mushroom(data_dir, seed=1, **AUTHORS_SPLIT)  # unstratified: the same rows whatever the labels
    authors = load_mushroom(data_dir, seed=1, encoding="authors", **AUTHORS_SPLIT)
    assert authors.n_features == uci.n_features == 117
    assert authors.label_names == ("edible", "poisonous")
    np.testing.assert_array_equal(authors.y_test, 1 - uci.y_test)  # same rows, flipped labels
    index = authors.group_index()
    root = [authors.feature_names[c] for c in index["stalk-root"]]
    assert root == ["stalk-root=?", "stalk-root=b", "stalk-root=c", "stalk-root=e", "stalk-root=r"]
    bruises = [authors.feature_names[c] for c in index["bruises"]]
    assert bruises == ["bruises=t", "bruises=f"]  # "bruises" < "no"
    assert [authors.feature_names[c] for c in index["veil-type"]] == ["veil-type=p"]  # constant column kept
    # the same one-hot columns, permuted within attributes
    order = [uci.feature_names.index(name) for name in authors.feature_names]
    np.testing.assert_array_equal(authors.X_test, uci.X_test[:, order])
    poisonous_odors = {"odor=c", "odor=f", "odor=m", "odor=p", "odor=s", "odor=y"}
    X, y = np.concatenate([authors.X_train, authors.X_test]), np.concatenate([authors.y_train, authors.y_test])
    for name in poisonous_odors:
        assert (y[X[:, authors.feature_names.index(name)] == 1] == 1).all()


def test_authors_spambase_scaling(data_dir):
    """Standardised with a seeded random 75% of the rows (how their train.csv was made), not the training part."""
    require_dataset(data_dir, "spambase")
    from sklearn.model_selection import train_test_split

    data = load_spambase(data_dir, seed=4, scaling="authors", **AUTHORS_SPLIT)
    raw = pd.read_csv(data_dir / "spambase/spambase.data", header=None).to_numpy()[:, :-1]
    fitted_on = train_test_split(np.arange(len(raw)), random_state=4)[0]
    assert len(fitted_on) == 3450  # sklearn's default 25% test part leaves 3450 rows, as in their train.csv
    np.testing.assert_allclose(data.offset, raw[fitted_on].mean(axis=0))
    np.testing.assert_allclose(data.scale, raw[fitted_on].std(axis=0))
    assert np.abs(data.X_train.mean(axis=0)).max() > 1e-3  # not the training part's statistics


def test_bad_split_options(data_dir):
    require_dataset(data_dir, "spambase")
    with pytest.raises(AdvexError, match="val_size"):
        load_spambase(data_dir, val_size=1.0)
    with pytest.raises(AdvexError, match="seed"):
        load_spambase(data_dir, seed=-1)
    with pytest.raises(AdvexError, match="Spambase scaling"):
        load_spambase(data_dir, scaling="minmax")
    with pytest.raises(AdvexError, match="Mushroom encoding"):
        load_tabular("mushroom", data_dir, encoding="ordinal")
