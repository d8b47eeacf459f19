"""Robust image loading: any common format, mode (grey, RGBA, palette, 16-bit, CMYK) and size -> RGB."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dlapps import DlappsError

GrayMode = Literal["replicate", "colormap"]  # grey images -> RGB: copy the channel, or a colour map


def to_rgb(img: Image.Image, gray: str = "replicate", colormap: str = "viridis",
           keep_gray: bool = False) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    16-bit and float images are rescaled by their own range; transparent images are composited on
    white; grey images are replicated to three channels, or mapped through a matplotlib colormap
    with ``gray="colormap"`` (the study's question on feeding grey images to an RGB network).
    ``keep_gray``: a grey image to be replicated stays 8-bit grey ("L"), for a caller that resizes first
    and replicates the channel afterwards (the same pixels, a third of the resizing work).
    """
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        img = Image.fromarray(a.astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img.convert("RGBA"))
        img = img.convert("RGB")
    if img.mode in ("1", "L"):
        if gray == "colormap":
            import matplotlib

            cmap = matplotlib.colormaps[colormap]
            a = cmap(np.asarray(img.convert("L"), dtype=np.float64) / 255.0)[..., :3]
            return Image.fromarray((a * 255).round().astype(np.uint8), "RGB")
        if gray != "replicate":
            raise DlappsError(f"unknown --gray mode {gray!r}; use replicate or colormap")
        return img.convert("L") if keep_gray else img.convert("L").convert("RGB")
    if img.mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return img


def decode_side(preprocess: object) -> int:
    """The shorter side a preprocessing pipeline resizes to first (torchvision ``Resize`` or a weights'
    ``ImageClassification`` transform), or 0 when it does not say: the size a JPEG needs to be decoded at."""
    steps = getattr(preprocess, "transforms", [preprocess])
    for t in steps:
        size = getattr(t, "resize_size", None) or (getattr(t, "size", None) if type(t).__name__ == "Resize" else None)
        if isinstance(size, int):
            return size
        if isinstance(size, (list, tuple)) and len(size) == 1:
            return int(size[0])
    return 0


def open_image(source: str | Path | bytes, gray: str = "replicate", min_side: int = 0,
               keep_gray: bool = False) -> Image.Image:
    """Open a file path or encoded bytes as RGB, with one clear error for unreadable input.

    ``min_side`` > 0: a JPEG at least twice that size on its shorter side is decoded at 1/2, 1/4 or 1/8
    scale (libjpeg's DCT scaling), keeping the shorter side ≥ min_side: a 4000-pixel photo resized to
    256 costs a fraction of its full decode, at a difference below the resize's own interpolation."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and Path(source).is_dir():
        raise DlappsError(f"{name} is a folder, not an image (pass its image files, e.g. {name}/*.jpg, or --data "
                          f"{name} where a command takes a dataset)")
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        if min_side and img.format == "JPEG" and min(img.size) >= 2 * min_side:
            scale = min(img.size) / min_side
            img.draft(None, (int(img.width / scale + 1), int(img.height / scale + 1)))
        img.load()
    except FileNotFoundError:
        raise DlappsError(f"image not found: {name}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DlappsError(f"cannot read image {name}: not an image or corrupt ({e.__class__.__name__})") from None
    if img.width < 1 or img.height < 1:
        raise DlappsError(f"image {name} is empty")
    return to_rgb(img, gray, keep_gray=keep_gray)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def expand_image_args(paths: "list[str] | tuple[str, ...]") -> list[str]:
    """Image arguments as files: a folder stands for the image files directly inside it (sorted), for
    commands that take several images. A missing path or a folder without images is one clear error."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DlappsError(f"{p} is a folder with no image files ({', '.join(IMAGE_SUFFIXES[:5])}, ...)")
            out += [str(f) for f in files]
        elif not p.is_file():
            raise DlappsError(f"image not found: {p}")
        else:
            out.append(str(p))
    return out
