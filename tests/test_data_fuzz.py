"""Property-based tests of every loader of untrusted bytes: IDX, CIFAR-10 pickles, UCI tables and uploads.

Whatever the bytes, a loader returns its result or raises advex's own error (an AdvexError
subclass) - never another exception, never runs code named in the file, and its extra peak
memory stays bounded (measured as resident memory on Linux, so C allocations count too).
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import pickle
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import cifar_batch, idx_bytes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from advex.data.images import IDX_DTYPES, read_cifar_batch, read_idx
from advex.data.tabular import MUSHROOM_ATTRIBUTES, SPAMBASE_FEATURES, parse_mushroom, parse_spambase
from advex.data.uploads import image_from_upload
from advex.errors import AdvexError, DataFormatError

# ADVEX_FUZZ_EXAMPLES=5000 runs a deeper search than the default suite's 100 examples per test.
FUZZ = settings(max_examples=int(os.environ.get("ADVEX_FUZZ_EXAMPLES", 100)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
MEMORY_BOUND_MB = 300
_names = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def fresh_file(folder: Path, content: bytes, suffix: str = "") -> Path:
    """A new file per example (the IDX reader memoises per path, modification time and size)."""
    path = folder / f"f{next(_names)}{suffix}"
    path.write_bytes(content)
    return path


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def outcome_and_peak_mb(load, *args):
    """Run ``load(*args)``: (its result or its AdvexError, extra peak resident memory in MB or None off Linux).

    Any exception other than an AdvexError propagates and fails the test.
    """
    measurable = Path("/proc/self/clear_refs").exists()
    if measurable:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kb("VmRSS")
    try:
        result = load(*args)
    except AdvexError as err:
        result = err
    peak = (_status_kb("VmHWM") - before) / 1024 if measurable else None
    return result, peak


def assert_bounded(peak_mb) -> None:
    assert peak_mb is None or peak_mb < MEMORY_BOUND_MB, peak_mb


# ---------------------------------------------------------------- IDX


@FUZZ
@given(content=st.binary(max_size=3000), gzipped=st.booleans())
def test_idx_junk_bytes(folder, content, gzipped):
    path = fresh_file(folder, gzip.compress(content) if gzipped else content)
    result, peak = outcome_and_peak_mb(read_idx, path)
    assert isinstance(result, (np.ndarray, DataFormatError))
    assert_bounded(peak)


@FUZZ
@given(
    code=st.sampled_from(sorted(IDX_DTYPES) + [0x00, 0x07, 0xFF]),
    dims=st.lists(st.integers(0, 2**32 - 1), max_size=6),
    extra=st.integers(-50, 50),
    gzipped=st.booleans(),
)
def test_idx_headers_claiming_any_shape(folder, code, dims, extra, gzipped):
    """Header dimensions up to 2^32 - 1 (a billion images and more) with a few hundred bytes of data."""
    body = bytes(max(0, 200 + extra))
    content = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body
    path = fresh_file(folder, gzip.compress(content) if gzipped else content)
    result, peak = outcome_and_peak_mb(read_idx, path)
    if isinstance(result, np.ndarray):
        assert result.shape == tuple(dims) and result.nbytes == len(body)
    else:
        assert isinstance(result, DataFormatError) and str(path) in str(result)
    assert_bounded(peak)


@FUZZ
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000), gzipped=st.booleans())
def test_idx_truncated_or_damaged(folder, cut, flip, gzipped):
    content = bytearray(idx_bytes(np.arange(4 * 7 * 9, dtype=np.uint8).reshape(4, 7, 9)))
    content[flip % len(content)] ^= 0xFF
    content = bytes(content[: cut % (len(content) + 1)])
    path = fresh_file(folder, gzip.compress(content) if gzipped else content)
    result, _ = outcome_and_peak_mb(read_idx, path)
    assert isinstance(result, (np.ndarray, DataFormatError))


# ---------------------------------------------------------------- CIFAR-10 pickles


class _Run:
    """An object whose unpickling would call ``function(*args)``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _dangerous_calls(marker: Path) -> list:
    import builtins
    import importlib
    import subprocess

    return [
        _Run(os.system, f"touch {marker}"), _Run(subprocess.call, ["touch", str(marker)]),
        _Run(builtins.exec, f"open({str(marker)!r}, 'w')"), _Run(builtins.eval, f"open({str(marker)!r}, 'w')"),
        _Run(os.popen, f"touch {marker}"), _Run(np.save, str(marker), np.zeros(1)), _Run(builtins.bytes, 10**9),
        _Run(np.ndarray, (10**9,), "O"), _Run(np.zeros, 10**9), _Run(importlib.import_module, "shutil"),
    ]


@FUZZ
@given(content=st.binary(max_size=2000), header=st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
def test_cifar_junk_pickles(folder, content, header):
    path = fresh_file(folder, header + content)
    result, peak = outcome_and_peak_mb(read_cifar_batch, path)
    assert isinstance(result, (tuple, DataFormatError))
    assert_bounded(peak)


@FUZZ
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
       protocol=st.integers(0, 5))
def test_cifar_damaged_real_batches(folder, cut, flips, protocol):
    content = bytearray(pickle.dumps(cifar_batch(3, 0), protocol=protocol))
    for position, mask in flips:
        content[position % len(content)] ^= mask
    path = fresh_file(folder, bytes(content[: cut % (len(content) + 1)]))
    result, peak = outcome_and_peak_mb(read_cifar_batch, path)
    if isinstance(result, tuple):
        images, labels = result
        assert images.dtype == np.uint8 and images.shape[1:] == (3, 32, 32) and labels.shape == images.shape[:1]
    else:
        assert isinstance(result, DataFormatError)
    assert_bounded(peak)


@FUZZ
@given(index=st.integers(0, 9), where=st.sampled_from(["data", "labels", "key", "top"]), protocol=st.integers(0, 5))
def test_cifar_pickles_naming_dangerous_globals_are_refused_and_never_run(folder, index, where, protocol):
    marker = folder / f"pwned{next(_names)}"
    call = _dangerous_calls(marker)[index]
    batch = cifar_batch(2, 0)
    if where == "data":
        batch[b"data"] = call
    elif where == "labels":
        batch[b"labels"] = [0, call]
    elif where == "key":
        batch[b"extra"] = {b"nested": [call]}
    else:
        batch = call
    path = fresh_file(folder, pickle.dumps(batch, protocol=protocol))
    result, peak = outcome_and_peak_mb(read_cifar_batch, path)
    assert isinstance(result, DataFormatError) and "refusing" in str(result), result
    assert not marker.exists()
    assert_bounded(peak)


# ---------------------------------------------------------------- UCI tables (parsers in advex/data/tabular.py)

MUSHROOM_FIELDS = [sorted(MUSHROOM_ATTRIBUTES[name]) for name in MUSHROOM_ATTRIBUTES]


@FUZZ
@given(content=st.binary(max_size=3000), parser=st.sampled_from([parse_mushroom, parse_spambase]))
def test_tabular_junk_bytes(folder, content, parser):
    path = fresh_file(folder, content)
    result, _ = outcome_and_peak_mb(parser, path)
    assert isinstance(result, (tuple, DataFormatError))


@FUZZ
@given(rows=st.lists(st.lists(st.text(alphabet="epxsfy?01.-e+naninf, \t\r", max_size=6), min_size=1, max_size=60),
                     min_size=1, max_size=8),
       parser=st.sampled_from([parse_mushroom, parse_spambase]))
def test_tabular_rows_of_plausible_tokens(folder, rows, parser):
    content = "\n".join(",".join(row) for row in rows).encode()
    result, _ = outcome_and_peak_mb(parser, fresh_file(folder, content))
    assert isinstance(result, (tuple, DataFormatError))


@FUZZ
@given(data=st.data(), n_rows=st.integers(1, 5))
def test_mushroom_rows_with_one_damaged_field(folder, data, n_rows):
    rows = [["e"] + [values[0] for values in MUSHROOM_FIELDS] for _ in range(n_rows)]
    row, column = data.draw(st.integers(0, n_rows - 1)), data.draw(st.integers(0, 22))
    rows[row][column] = data.draw(st.text(max_size=4))
    content = "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")
    result, _ = outcome_and_peak_mb(parse_mushroom, fresh_file(folder, content))
    if isinstance(result, tuple):
        features, labels = result
        assert len(features) == len(labels) == n_rows
    else:
        assert isinstance(result, DataFormatError)


@FUZZ
@given(data=st.data(), n_rows=st.integers(1, 5))
def test_spambase_rows_with_one_damaged_field(folder, data, n_rows):
    rows = [["0.5"] * len(SPAMBASE_FEATURES) + ["1"] for _ in range(n_rows)]
    row, column = data.draw(st.integers(0, n_rows - 1)), data.draw(st.integers(0, len(SPAMBASE_FEATURES)))
    rows[row][column] = data.draw(st.one_of(st.text(max_size=8), st.sampled_from(["nan", "inf", "-1e999", "1e999", "2"])))
    content = "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")
    result, _ = outcome_and_peak_mb(parse_spambase, fresh_file(folder, content))
    if isinstance(result, tuple):
        features, labels = result
        assert features.shape == (n_rows, len(SPAMBASE_FEATURES)) and np.isfinite(features).all()
        assert set(labels.tolist()) <= {0, 1}
    else:
        assert isinstance(result, DataFormatError)


@pytest.mark.parametrize("parser", [parse_mushroom, parse_spambase])
def test_tabular_paths_that_are_not_files(tmp_path, parser):
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "folder", tmp_path / "absent"):
        result, _ = outcome_and_peak_mb(parser, path)
        assert isinstance(result, DataFormatError) and str(path) in str(result)


# ---------------------------------------------------------------- uploads


def _encoded(fmt: str, mode: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 90).save(buffer, format=fmt)
    return buffer.getvalue()


SEEDS = [_encoded("PNG", "L", (40, 30)), _encoded("PNG", "RGBA", (20, 20)), _encoded("PNG", "P", (16, 24)),
         _encoded("JPEG", "RGB", (48, 32)), _encoded("JPEG", "CMYK", (16, 16)), _encoded("PNG", "I;16", (8, 8))]


@FUZZ
@given(content=st.binary(max_size=4000), channels=st.sampled_from([1, 3]))
def test_upload_junk_bytes(content, channels):
    result, peak = outcome_and_peak_mb(image_from_upload, content, channels, 28)
    assert isinstance(result, (tuple, AdvexError))
    assert_bounded(peak)


@FUZZ
@given(seed=st.sampled_from(range(len(SEEDS))), cut=st.integers(0, 10**5),
       flips=st.lists(st.tuples(st.integers(0, 10**5), st.integers(1, 255)), max_size=6), channels=st.sampled_from([1, 3]))
def test_upload_damaged_images(seed, cut, flips, channels):
    content = bytearray(SEEDS[seed])
    for position, mask in flips:
        content[position % len(content)] ^= mask
    content = bytes(content[: max(1, cut % (len(content) + 1))])
    result, peak = outcome_and_peak_mb(image_from_upload, content, channels, 28)
    if isinstance(result, tuple):
        image, _ = result
        assert image.shape == (channels, 28, 28) and np.isfinite(image).all() and 0 <= image.min() <= image.max() <= 1
    else:
        assert isinstance(result, AdvexError)
    assert_bounded(peak)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@FUZZ
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1), jpeg=st.booleans())
def test_upload_headers_claiming_any_size(width, height, jpeg):
    """A PNG or JPEG header claiming any dimensions, followed by almost no data."""
    if jpeg:
        assume(width < 2**16 and height < 2**16)
        raw = _encoded("JPEG", "RGB", (8, 8))
        at = raw.index(b"\xff\xc0") + 5
        content = raw[:at] + struct.pack(">HH", height, width) + raw[at + 4:]
    else:
        content = _encoded("PNG", "L", (8, 8))
        ihdr = struct.pack(">II", width, height) + content[24:29]
        content = content[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + content[33:]
    result, peak = outcome_and_peak_mb(image_from_upload, content, 3, 32)
    assert isinstance(result, (tuple, AdvexError))
    assert_bounded(peak)
