"""Decode an uploaded PNG or JPEG into a model input, with memory bounded whatever the file claims.

The picture is fitted into a square (padded with its top-left colour) and resized to the
model's input size. Pictures whose longer side exceeds ``WORKING_SIDE`` are shrunk while
decoding (JPEG: libjpeg's 1/2, 1/4, 1/8 scaled decoding) and then converted and box-reduced
band by band of rows, so besides the decoded picture itself no full-size copy, conversion or
padded square is ever made; smaller pictures take the direct route (convert, pad, resize).
Uploads over ``MAX_UPLOAD_BYTES``, over ``MAX_UPLOAD_PIXELS``, more than ``MAX_ASPECT_RATIO``
times longer one way than the other, or JPEGs with more than ``MAX_JPEG_SAMPLES`` colour
samples are refused before decoding. Peak memory stays under 300 MB for any upload
(``bench/bench_upload.py`` measures it).
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from advex.errors import AdvexError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000  # 160 MB decoded at PIL's 4 bytes per RGB(A) pixel
MAX_ASPECT_RATIO = 10  # longer side / shorter side; beyond it the shorter side fits in < 3 of 28 pixels
WORKING_SIDE = 2048  # longer pictures are shrunk to at most this side before converting and padding
UPLOAD_TYPES = ("png", "jpg", "jpeg")  # file-name extensions the uploader accepts
UPLOAD_FORMATS = ("PNG", "JPEG")  # the only PIL decoders an upload reaches
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # 16-bit grey PNGs
BAND_PIXELS = 4_000_000  # large pictures are converted and reduced this many pixels at a time
MAX_JPEG_SAMPLES = 100_000_000  # 200 MB of DCT coefficients (see _check_jpeg_samples)
# EXIF orientation tag -> the transpose that shows the picture upright (EXIF 2.32, tag 0x0112).
ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What PIL raises on malformed or truncated image data (its decoders are C code reporting through these).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
                 ZeroDivisionError)


def image_from_upload(raw: bytes, channels: int, size: int, invert: bool | None = None) -> tuple[np.ndarray, bool]:
    """Decode an uploaded PNG/JPEG into the model's input: float32 (channels, size, size) in [0, 1].

    Grey-scale models (``channels`` 1) get the luminance, colour models (3) RGB; 16-bit grey is
    scaled to 8 bits; an EXIF orientation is applied. The picture is fitted into a square
    (padded with its top-left colour) and resized (Lanczos). ``invert`` (None: automatic, when
    the picture is mostly light) turns dark-on-light drawings into the white-on-black of
    MNIST-like data. Returns the array and whether it was inverted. Empty, oversized, non-PNG/JPEG,
    corrupt, truncated or absurdly shaped uploads raise :class:`AdvexError` saying what to upload.
    """
    if channels not in (1, 3):
        raise AdvexError(f"a model input has 1 (grey) or 3 (RGB) channels, got {channels}")
    _check_upload_size(raw)
    target = "L" if channels == 1 else "RGB"
    try:
        with Image.open(io.BytesIO(raw), formats=UPLOAD_FORMATS) as opened:
            _check_dimensions(*opened.size)
            if opened.format == "JPEG":
                _check_jpeg_samples(opened)
            orientation = _orientation(opened)
            picture = _decode(opened, target)
    except UnidentifiedImageError:
        raise AdvexError("the upload is not an image in a format advex reads; upload a PNG or JPEG file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning, where warnings are errors
        raise AdvexError(
            f"the image has far too many pixels; upload one under {MAX_UPLOAD_PIXELS // 10**6} megapixels "
            "(a crop or a screenshot of the digit)"
        ) from None
    except DECODE_ERRORS as err:
        raise AdvexError(f"the image could not be decoded ({err}); upload an intact PNG or JPEG") from None
    if orientation in ORIENTATION_FIX:
        picture = picture.transpose(ORIENTATION_FIX[orientation])
    side = max(picture.size)
    square = Image.new(picture.mode, (side, side), picture.getpixel((0, 0)))
    square.paste(picture, ((side - picture.size[0]) // 2, (side - picture.size[1]) // 2))
    square = square.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(square, dtype=np.float32) / 255.0
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if invert is None:
        invert = channels == 1 and float(array.mean()) > 0.5
    if invert:
        array = 1.0 - array
    return np.clip(array, 0.0, 1.0).astype(np.float32), bool(invert)


def _check_upload_size(raw: bytes) -> None:
    if len(raw) == 0:
        raise AdvexError("the uploaded file is empty; upload a PNG or JPEG image")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise AdvexError(
            f"the upload is {len(raw) / 2**20:.1f} MiB; upload an image under {MAX_UPLOAD_BYTES // 2**20} MiB"
        )


def _check_dimensions(width: int, height: int) -> None:
    """Refuse, before decoding, pictures with too many pixels or an absurd aspect ratio."""
    if width * height > MAX_UPLOAD_PIXELS:
        raise AdvexError(
            f"the image is {width}x{height} pixels ({width * height / 10**6:.0f} megapixels); upload one under "
            f"{MAX_UPLOAD_PIXELS // 10**6} megapixels (a crop or a screenshot of the digit)"
        )
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise AdvexError(
            f"the image is {width}x{height} pixels, too long and thin to fit a square model input; upload a "
            f"picture at most {MAX_ASPECT_RATIO} times longer one way than the other (crop it around the digit)"
        )


def _orientation(picture: Image.Image) -> int:
    """The EXIF orientation (1: upright); a missing or unreadable EXIF block counts as upright."""
    try:
        return int(picture.getexif().get(ExifTags.Base.Orientation, 1))
    except DECODE_ERRORS:
        return 1


def _check_jpeg_samples(picture: Image.Image) -> None:
    """Refuse JPEGs whose DCT coefficients would fill more than ``MAX_JPEG_SAMPLES`` samples.

    libjpeg keeps the coefficients of the whole picture (2 bytes per sample, at full size even when
    decoding scaled) for progressive and multi-scan files; the samples are the pixels of each colour
    component after chroma subsampling (the SOF header's sampling factors).
    """
    width, height = picture.size
    factors = [(h, v) for _, h, v, _ in getattr(picture, "layer", [])] or [(1, 1)]
    h_max, v_max = max(max(h for h, _ in factors), 1), max(max(v for _, v in factors), 1)
    samples = sum(math.ceil(width * h / h_max) * math.ceil(height * v / v_max) for h, v in factors)
    if samples > MAX_JPEG_SAMPLES:
        megapixels = min(width * height * MAX_JPEG_SAMPLES // samples, MAX_UPLOAD_PIXELS) // 10**6
        raise AdvexError(
            f"the JPEG is {width}x{height} pixels in {len(factors)} colour components ({samples / 10**6:.0f} million "
            f"samples), more than advex decodes within its memory bound; upload it under {megapixels} megapixels "
            "or as a PNG"
        )


def _decode(opened: Image.Image, target: str) -> Image.Image:
    """Decode ``opened`` as mode ``target``, shrunk by an integer factor to a longer side of at most ``WORKING_SIDE``."""
    if opened.format == "JPEG" and max(opened.size) > WORKING_SIDE:
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale, keeping a longer side of at least WORKING_SIDE / 2
        opened.draft(target, _fitted(opened.size, WORKING_SIDE // 2))
    opened.load()
    factor = math.ceil(max(opened.size) / WORKING_SIDE)
    if factor < 2:
        return _to_mode(opened, target)
    width, height = opened.size
    reduced = Image.new(target, (math.ceil(width / factor), math.ceil(height / factor)))
    rows = factor * max(1, BAND_PIXELS // width // factor)
    for top in range(0, height, rows):  # band by band: no full-size converted copy is ever made
        band = _to_mode(opened.crop((0, top, width, min(top + rows, height))), target)
        reduced.paste(band.reduce(factor), (0, top // factor))
    return reduced


def _fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``side`` (each at least 1)."""
    scale = side / max(size)
    return max(1, int(size[0] * scale)), max(1, int(size[1] * scale))


def _to_mode(picture: Image.Image, target: str) -> Image.Image:
    """``picture`` as ``target`` ("L" or "RGB"); 16-bit grey is scaled to 8 bits (PIL would clip it at 255)."""
    if picture.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(picture, dtype=np.float32)
        picture = Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8))
    return picture.convert(target)  # always a new image: the decoded one is closed with its file
