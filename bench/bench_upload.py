"""Peak memory and time of decoding hostile uploads (target: any upload of at most 10 MB costs at most 300 MB).

Run: python bench/bench_upload.py [--corpus DIR] [--repeats 3] [--function advex.data.uploads:image_from_upload]

Builds a corpus of hostile images (huge dimensions in tiny files, 16-bit, palette, 1-bit, CMYK,
progressive, animated, truncated, decompression bombs, extreme aspect ratios, EXIF-rotated,
compressed-text bombs) plus two normal ones, then decodes each in a fresh subprocess, once for a
grey 28x28 model and once for an RGB 32x32 one. Per image it reports the extra peak resident
memory of the decode (Linux VmHWM, reset through /proc/self/clear_refs after the upload's bytes
are in memory, so PIL's C allocations count), the peak of Python/numpy allocations seen by
tracemalloc, the median time, and the outcome. Each child runs under an address-space limit
(``--limit-mb``), so an unbounded decoder fails with MemoryError instead of exhausting the machine.
``--function`` measures another implementation (``module:function``, same signature) for comparison.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import platform
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

DEFAULT_FUNCTION = "advex.data.uploads:image_from_upload"
FORTY_MP_SQUARE = 6324  # 6324^2 = 39.99 megapixels, just under MAX_UPLOAD_PIXELS


# ---------------------------------------------------------------- corpus


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_zeros(width: int, height: int, bit_depth: int = 8, color_type: int = 0, rows: int | None = None,
              extra_chunks: bytes = b"", palette: bool = False) -> bytes:
    """A PNG of ``width`` x ``height`` all-zero pixels, written by hand and streamed (no full-size buffer).

    ``rows`` < ``height`` writes only that many rows: a valid header with truncated data.
    """
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = b"\x00" + bytes((width * channels * bit_depth + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = []
    for _ in range(height if rows is None else rows):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    plte = _chunk(b"PLTE", bytes(range(256)) * 3) if palette else b""
    return b"\x89PNG\r\n\x1a\n" + header + plte + extra_chunks + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def _save(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _digit():
    import numpy as np
    from PIL import Image

    picture = np.full((280, 200), 255, dtype=np.uint8)
    picture[40:240, 90:110] = 0
    return Image.fromarray(picture)


def _forty_mp_jpeg(mode: str, **options) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new(mode, (7300, 5479), "white" if mode != "CMYK" else (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(3600, 500), (3700, 5000)], fill="black" if mode != "CMYK" else (0, 0, 0, 255), width=300)
    return _save(image, "JPEG", quality=80, **options)


def _patch_jpeg_size(raw: bytes, width: int, height: int) -> bytes:
    at = raw.index(b"\xff\xc0") + 5  # SOF0: marker, length (2), precision (1), height (2), width (2)
    return raw[:at] + struct.pack(">HH", height, width) + raw[at + 4:]


def _exif_rotated() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return _save(_digit().convert("RGB"), "JPEG", exif=exif)


def _animated(fmt: str, frames: int = 100) -> bytes:
    from PIL import Image

    images = [Image.new("L", (512, 512), i) for i in range(frames)]
    return _save(images[0], fmt, save_all=True, append_images=images[1:])


def _gif_claiming(width: int, height: int) -> bytes:
    from PIL import Image

    raw = _save(Image.new("L", (8, 8)), "GIF")
    return raw[:6] + struct.pack("<HH", width, height) + raw[10:]


def _text_bomb(kind: bytes) -> bytes:
    """A small PNG with a zTXt or iCCP chunk that inflates to 1 GB."""
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(1024)) + compressor.flush()
    chunk = _chunk(kind, b"Comment\x00\x00" + body if kind == b"zTXt" else b"icc\x00\x00" + body)
    return png_zeros(64, 64, extra_chunks=chunk)


def corpus() -> dict[str, Callable[[], bytes]]:
    """Name -> builder of the image's bytes (built lazily: some take a few seconds)."""
    import numpy as np
    from PIL import Image

    side = FORTY_MP_SQUARE
    return {
        "normal: digit 200x280 PNG": lambda: _save(_digit(), "PNG"),
        "normal: photo 4000x3000 JPEG": lambda: _save(Image.new("RGB", (4000, 3000), (200, 180, 160)), "JPEG"),
        "40000x999 grey PNG (user report)": lambda: png_zeros(40000, 999),
        "40000x999 RGB PNG": lambda: png_zeros(40000, 999, color_type=2),
        "39999999x1 grey PNG (user report)": lambda: png_zeros(39_999_999, 1),
        "bomb 20000x20000 grey PNG (400 MP)": lambda: png_zeros(20000, 20000),
        "header claims 65535x65535 RGBA PNG": lambda: png_zeros(65535, 65535, color_type=6, rows=2),
        "40 MP square RGBA PNG": lambda: png_zeros(side, side, color_type=6),
        "40 MP square 16-bit grey PNG": lambda: png_zeros(side, side, bit_depth=16),
        "40 MP square 16-bit RGBA PNG": lambda: png_zeros(side, side, bit_depth=16, color_type=6),
        "40 MP square palette PNG": lambda: png_zeros(side, side, color_type=3, palette=True),
        "40 MP square 1-bit PNG": lambda: png_zeros(side, side, bit_depth=1),
        "40 MP 20000x2000 RGB PNG (aspect 10)": lambda: png_zeros(20000, 2000, color_type=2),
        "40 MP RGB JPEG baseline": lambda: _forty_mp_jpeg("RGB"),
        "40 MP RGB JPEG progressive": lambda: _forty_mp_jpeg("RGB", progressive=True),
        "40 MP RGB JPEG 4:4:4 progressive": lambda: _forty_mp_jpeg("RGB", progressive=True, subsampling=0),
        "40 MP CMYK JPEG": lambda: _forty_mp_jpeg("CMYK"),
        "40 MP CMYK JPEG progressive": lambda: _forty_mp_jpeg("CMYK", progressive=True),
        "25 MP CMYK JPEG progressive": lambda: _save(Image.new("CMYK", (5000, 5000), (0, 0, 0, 0)), "JPEG",
                                                     progressive=True),
        "40 MP grey JPEG": lambda: _forty_mp_jpeg("L"),
        "JPEG header claims 65000x65000": lambda: _patch_jpeg_size(_save(Image.new("RGB", (64, 64)), "JPEG"), 65000, 65000),
        "EXIF-rotated JPEG (orientation 6)": _exif_rotated,
        "animated GIF, 100 frames": lambda: _animated("GIF"),
        "GIF header claims 65535x65535": lambda: _gif_claiming(65535, 65535),
        "animated PNG, 100 frames": lambda: _animated("PNG"),
        "truncated PNG": lambda: _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512), np.uint8)),
                                       "PNG")[:5000],
        "truncated JPEG": lambda: _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)),
                                        "JPEG")[:5000],
        "PNG with a 1 GB zTXt chunk": lambda: _text_bomb(b"zTXt"),
        "PNG with a 1 GB iCCP profile": lambda: _text_bomb(b"iCCP"),
        "WebP": lambda: _save(Image.new("RGB", (64, 64)), "WEBP"),
        "random bytes": lambda: np.random.default_rng(0).bytes(4096),
    }


def build_corpus(folder: Path) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (name, build) in enumerate(corpus().items()):
        path = folder / f"{i:02d}.bin"
        if not path.exists():
            path.write_bytes(build())
        files.append((name, path))
    return files


# ---------------------------------------------------------------- measurement (child process)


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def measure(path: Path, channels: int, size: int, function: str, repeats: int) -> dict:
    """Decode ``path`` ``repeats`` times: extra peak RSS (MB), tracemalloc peak (MB), median seconds, outcome."""
    module, name = function.split(":")
    decode = getattr(importlib.import_module(module), name)
    raw = path.read_bytes()
    times, outcome, rss_peak, traced_peak = [], "", 0.0, 0.0
    for _ in range(repeats):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        baseline = _status_kb("VmRSS")
        tracemalloc.start()
        start = time.perf_counter()
        try:
            image, _ = decode(raw, channels, size)
            outcome = f"decoded {tuple(image.shape)}"
        except Exception as err:  # noqa: BLE001 - the outcome is what is measured
            outcome = f"{type(err).__name__}: {err}"
        times.append(time.perf_counter() - start)
        traced_peak = max(traced_peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        rss_peak = max(rss_peak, (_status_kb("VmHWM") - baseline) / 1024)
    return {"rss_mb": rss_peak, "traced_mb": traced_peak, "seconds": statistics.median(times), "outcome": outcome}


def run_child(path: Path, channels: int, size: int, function: str, repeats: int, limit_mb: int) -> dict:
    command = [sys.executable, __file__, "--measure", str(path), "--channels", str(channels), "--size", str(size),
               "--function", function, "--repeats", str(repeats), "--limit-mb", str(limit_mb)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"rss_mb": float("nan"), "traced_mb": float("nan"), "seconds": float("nan"),
                "outcome": f"child died (exit {done.returncode}): {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="folder to build (or reuse) the corpus in; default: a temporary one")
    parser.add_argument("--function", default=DEFAULT_FUNCTION, help="decoder to measure, module:function")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-mb", type=int, default=3072, help="address-space limit of each child process")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--channels", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=28, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        limit = args.limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        print(json.dumps(measure(args.measure, args.channels, args.size, args.function, args.repeats)))
        return

    with tempfile.TemporaryDirectory() as scratch:
        files = build_corpus(args.corpus or Path(scratch))
        print(f"# {args.function} on {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
              f"Python {platform.python_version()}; median of {args.repeats} decodes per image, each image in a "
              f"fresh process limited to {args.limit_mb} MB of address space")
        print("| image | file KB | grey 28x28: peak RSS MB | traced MB | ms | RGB 32x32: peak RSS MB | ms | outcome |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        rows = []
        for name, path in files:
            grey = run_child(path, 1, 28, args.function, args.repeats, args.limit_mb)
            rgb = run_child(path, 3, 32, args.function, args.repeats, args.limit_mb)
            rows.append({"image": name, "bytes": path.stat().st_size, "grey": grey, "rgb": rgb})
            outcomes = [r["outcome"] if not r["outcome"].startswith("decoded") else "decoded" for r in (grey, rgb)]
            outcome = outcomes[0] if outcomes[0] == outcomes[1] else f"grey: {outcomes[0]} / RGB: {outcomes[1]}"
            outcome = outcome if len(outcome) < 110 else outcome[:107] + "..."
            print(f"| {name} | {path.stat().st_size / 1024:.0f} | {grey['rss_mb']:.1f} | {grey['traced_mb']:.1f} | "
                  f"{grey['seconds'] * 1000:.0f} | {rgb['rss_mb']:.1f} | {rgb['seconds'] * 1000:.0f} | {outcome} |",
                  flush=True)
        worst = max(max(r["grey"]["rss_mb"], r["rgb"]["rss_mb"]) for r in rows)
        print(f"\nworst extra peak RSS: {worst:.1f} MB (target: 300 MB)")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
