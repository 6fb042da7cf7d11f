"""Upload decoding (advex.data.uploads): normal pictures as before, hostile ones refused or decoded in bounded memory."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from PIL import Image

from advex.data import uploads
from advex.data.uploads import MAX_ASPECT_RATIO, image_from_upload
from advex.errors import AdvexError

MEMORY_TARGET_MB = 300


def encode(picture: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_bytes(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    return encode(Image.fromarray(array, mode), fmt)


def fit_square_by_hand(picture: Image.Image, mode: str, size: int) -> np.ndarray:
    """The dashboard's rule written out step by step: convert, pad with the top-left colour, Lanczos-resize, scale."""
    converted = picture.convert(mode)
    width, height = converted.size
    side = max(width, height)
    square = Image.new(mode, (side, side), converted.getpixel((0, 0)))
    square.paste(converted, ((side - width) // 2, (side - height) // 2))
    array = np.asarray(square.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    return array[None] if mode == "L" else array.transpose(2, 0, 1)


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_upload", REPO_ROOT / "bench" / "bench_upload.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- normal pictures: the dashboard's behaviour is unchanged


def test_dark_digit_on_white_paper_becomes_mnist_like():
    picture = np.full((56, 40), 255, dtype=np.uint8)
    picture[10:46, 18:22] = 0  # a dark vertical stroke
    image, inverted = image_from_upload(png_bytes(picture), channels=1, size=28)
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert inverted  # mostly light, so turned into white on black
    assert image.min() >= 0 and image.max() <= 1
    assert image[0, :, 13:15].mean() > 0.5 > image[0, :, :5].mean()  # the stroke is bright, the border dark
    expected = 1.0 - fit_square_by_hand(Image.fromarray(picture), "L", 28)
    np.testing.assert_array_equal(image, np.clip(expected, 0, 1))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "1"])
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_normal_pictures_decode_exactly_as_the_hand_written_rule(mode, channels, size):
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (90, 60, 3), dtype=np.uint8)).convert(mode)
    image, inverted = image_from_upload(encode(picture), channels, size, invert=False)
    expected = fit_square_by_hand(Image.open(io.BytesIO(encode(picture))), "L" if channels == 1 else "RGB", size)
    assert not inverted
    np.testing.assert_array_equal(image, np.clip(expected, 0, 1).astype(np.float32))


def test_rgb_jpeg_upload_for_a_colour_model_keeps_three_channels():
    picture = np.zeros((32, 32, 3), dtype=np.uint8)
    picture[..., 0] = 200
    image, inverted = image_from_upload(png_bytes(picture, "RGB", "JPEG"), channels=3, size=32)
    assert image.shape == (3, 32, 32) and not inverted
    assert image[0].mean() == pytest.approx(200 / 255, abs=0.03) and image[2].mean() < 0.05


def test_large_photo_is_shrunk_while_decoding_and_stays_close_to_the_direct_rule():
    """A 3000x2000 JPEG is decoded at half scale and box-reduced; the result is within 2/255 of the full-size rule."""
    picture = Image.new("RGB", (3000, 2000), (230, 225, 220))
    picture.paste((20, 20, 30), (1400, 300, 1550, 1700))  # a dark bar
    raw = encode(picture, "JPEG", quality=95)
    image, _ = image_from_upload(raw, channels=1, size=28, invert=False)
    expected = fit_square_by_hand(Image.open(io.BytesIO(raw)), "L", 28)
    assert np.abs(image - expected).max() <= 2 / 255 + 1e-6


def test_exif_orientation_is_applied():
    picture = np.zeros((40, 20), dtype=np.uint8)
    picture[:, :10] = 255  # bright left half of a tall picture
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    raw = encode(Image.fromarray(picture), "JPEG", exif=exif, quality=95)
    image, _ = image_from_upload(raw, channels=1, size=28, invert=False)
    upright = fit_square_by_hand(Image.fromarray(picture).transpose(Image.Transpose.ROTATE_270), "L", 28)
    as_stored = fit_square_by_hand(Image.fromarray(picture), "L", 28)
    assert np.abs(image - upright).max() < 0.1  # the bright half is on top, as a viewer shows it
    assert np.abs(image - as_stored).max() > 0.5


def test_sixteen_bit_grey_is_scaled_not_clipped():
    values = np.full((30, 30), 32896, dtype=np.uint16)  # 50% grey in 16 bits: 128 * 257
    image, _ = image_from_upload(png_bytes(values), channels=1, size=28, invert=False)
    np.testing.assert_allclose(image, 128 / 255, atol=1e-6)


# ---------------------------------------------------------------- refused uploads: one clear AdvexError


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:2000], "could not be decoded"),
        (encode(Image.new("L", (8, 8)), "GIF"), "PNG or JPEG"),
        (encode(Image.new("RGB", (8, 8)), "WEBP"), "PNG or JPEG"),
        (bytes(11 * 2**20), "MiB"),
    ],
    ids=["empty", "text", "truncated-png", "gif", "webp", "too-large"],
)
def test_bad_uploads_are_clear_errors(raw, message):
    with pytest.raises(AdvexError, match=message):
        image_from_upload(raw, channels=1, size=28)


def test_too_many_pixels_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_PIXELS", 100 * 100)
    with pytest.raises(AdvexError, match="megapixels"):
        image_from_upload(png_bytes(np.zeros((200, 200), dtype=np.uint8)), channels=1, size=28)


@pytest.mark.parametrize("width, height", [(40000, 999), (39_999_999, 1), (1, 50)])
def test_absurd_aspect_ratios_are_refused_with_what_to_upload(width, height):
    raw = bench_module().png_zeros(width, height)
    assert len(raw) < 200_000  # a tiny file
    with pytest.raises(AdvexError, match=f"at most {MAX_ASPECT_RATIO} times longer") as info:
        image_from_upload(raw, channels=1, size=28)
    assert f"{width}x{height}" in str(info.value)


def test_decompression_bomb_is_refused_before_decoding():
    raw = bench_module().png_zeros(65535, 65535, color_type=6, rows=2)  # claims 17 GB of pixels in a few KB
    with pytest.raises(AdvexError, match="megapixels"):
        image_from_upload(raw, channels=3, size=32)


def test_jpeg_with_too_many_colour_samples_is_refused():
    raw = encode(Image.new("CMYK", (600, 600)), "JPEG")
    uploads_limit = 600 * 600 * 4 - 1  # one sample fewer than the four full-resolution components hold
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uploads, "MAX_JPEG_SAMPLES", uploads_limit)
        with pytest.raises(AdvexError, match="colour components"):
            image_from_upload(raw, channels=1, size=28)
    image_from_upload(raw, channels=1, size=28)  # within the real limit it decodes


def test_channels_must_be_one_or_three():
    with pytest.raises(AdvexError, match="channels"):
        image_from_upload(png_bytes(np.zeros((8, 8), dtype=np.uint8)), channels=2, size=28)


# ---------------------------------------------------------------- bounded memory, measured in a fresh process

WORST_CASES = (
    "40 MP square RGBA PNG",
    "40 MP square 16-bit grey PNG",
    "40 MP square palette PNG",
    "40 MP 20000x2000 RGB PNG (aspect 10)",
    "25 MP CMYK JPEG progressive",
    "40000x999 RGB PNG",
)


@pytest.mark.slow
def test_worst_uploads_of_the_corpus_stay_under_the_memory_target(tmp_path):
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak memory is measured with Linux's /proc/self/clear_refs")
    bench = bench_module()
    corpus = bench.corpus()
    for name in WORST_CASES:
        path = tmp_path / "upload.bin"
        path.write_bytes(corpus[name]())
        result = bench.run_child(path, 3, 32, bench.DEFAULT_FUNCTION, repeats=1, limit_mb=2048)
        assert result["outcome"].startswith(("decoded", "AdvexError")), (name, result["outcome"])
        assert result["rss_mb"] < MEMORY_TARGET_MB, (name, result)
