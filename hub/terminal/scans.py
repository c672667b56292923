"""Fewer bytes on a slow link: scans downscaled and recompressed before they are queued.

``prepare`` takes a received file and returns what will be uploaded. An image (JPEG, PNG,
TIFF, BMP, WebP) is, when ``ScanSettings.enabled``, scaled down to ``max_dpi`` (from the dpi the
scanner wrote, else assuming ``assume_dpi``), optionally turned grey, and saved as JPEG at
``jpeg_quality``; the smaller of original and result is kept, so nothing grows. Everything
else, in particular audio and video (evidence originals), and PDFs, is kept byte for byte.
Pillow decodes with its decompression-bomb guard, so a hostile image cannot exhaust memory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGES = {"image/jpeg", "image/png", "image/tiff", "image/bmp", "image/webp", "image/x-portable-anymap"}


@dataclass(frozen=True)
class ScanSettings:
    enabled: bool = True
    max_dpi: int = 150
    jpeg_quality: int = 70
    grey: bool = False
    assume_dpi: int = 300


@dataclass(frozen=True)
class Prepared:
    path: Path
    media_type: str
    size: int
    sha256: str


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def prepare(path: Path, media_type: str, settings: ScanSettings) -> Prepared:
    """The file to upload in place of ``path`` (which it may replace); fsynced."""
    if settings.enabled and media_type in IMAGES:
        smaller = _recompress(path, settings)
        if smaller is not None:
            os.replace(smaller, path)
            media_type = "image/jpeg"
    _fsync(path)
    return Prepared(path, media_type, path.stat().st_size, _sha256(path))


def _recompress(path: Path, s: ScanSettings) -> Path | None:
    out = path.with_suffix(".jpg.tmp")
    try:
        with Image.open(path) as img:
            dpi = img.info.get("dpi", (s.assume_dpi, s.assume_dpi))[0] or s.assume_dpi
            scale = min(1.0, s.max_dpi / float(dpi))
            work = img.convert("L" if s.grey else "RGB")
            if scale < 1.0:
                work = work.resize((max(1, round(img.width * scale)),
                                    max(1, round(img.height * scale))), Image.Resampling.LANCZOS)
            target = min(float(dpi), float(s.max_dpi))
            work.save(out, "JPEG", quality=s.jpeg_quality, optimize=True, dpi=(target, target))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        out.unlink(missing_ok=True)
        return None  # not an image Pillow can read: sent as it is
    if out.stat().st_size >= path.stat().st_size:
        out.unlink()
        return None
    return out
