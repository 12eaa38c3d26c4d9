"""Image intake shared by training and serving: untrusted bytes -> a fixed-size RGB array.

Every photo the damage model sees goes through `load_rgb` (or `decode_rgb` for a batch), in
training and in serving, so both see the same pixels. The intake is the way in for uploads, so
it is defensive: only JPEG, PNG and WebP; a byte limit; a pixel limit checked on the header
before any pixel is decoded (decompression-bomb guard); large JPEGs decoded at a reduced scale
(draft mode, the DCT does the downscaling almost for free); EXIF orientation applied; greyscale,
16-bit, palette and alpha images turned into plain RGB (alpha composited on white). Anything it
cannot or will not decode raises `ImageRejected` with a message fit for a 4xx answer; nothing
else escapes for bad input.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
MAX_BYTES = 20 * 1024 * 1024
"""Largest accepted upload (20 MiB): far above any phone photo, far below a memory problem."""
MAX_PIXELS = 50_000_000
"""Largest accepted width x height (50 MP, a high-end camera); checked before decoding."""

ImageInput = bytes | bytearray | memoryview | Image.Image


class ImageRejected(ValueError):
    """An upload that is not an acceptable image (empty, too big, corrupt, wrong format)."""


@dataclass(frozen=True)
class IntakeLimits:
    """What the intake accepts: byte size, pixel count and formats."""

    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS
    formats: frozenset[str] = ALLOWED_FORMATS


DEFAULT_LIMITS = IntakeLimits()


def open_image(data: ImageInput, limits: IntakeLimits = DEFAULT_LIMITS) -> Image.Image:
    """Open untrusted bytes lazily (header only) after the byte, format and pixel checks.

    A `PIL.Image.Image` is accepted as is (it was decoded by trusted code), still pixel-checked.
    """
    if isinstance(data, Image.Image):
        _check_pixels(data.size, limits)
        return data
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageRejected(f"expected image bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise ImageRejected("empty file (0 bytes)")
    if size > limits.max_bytes:
        raise ImageRejected(f"file too large: {size:,} bytes (limit {limits.max_bytes:,})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)), formats=sorted(limits.formats))
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "not a recognised image; accepted formats: " + ", ".join(sorted(limits.formats))
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image too large to decode safely: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"corrupt image header: {exc}") from exc
    if image.format not in limits.formats:
        raise ImageRejected(f"format {image.format} not accepted")
    _check_pixels(image.size, limits)
    return image


def load_rgb(
    data: ImageInput, size: int | tuple[int, int], limits: IntakeLimits = DEFAULT_LIMITS
) -> NDArray[np.uint8]:
    """Decode one photo to an RGB uint8 array of shape (height, width, 3) at `size`.

    `size` is an int (square) or (width, height). The whole photo is resized (no crop), so the
    aspect ratio is not kept: defects at the border stay in view.
    """
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    image = open_image(data, limits)
    try:
        if image.format == "JPEG":
            # decode at the smallest DCT scale (1/2, 1/4, 1/8) still at least twice the target
            image.draft("RGB", (2 * width, 2 * height))
        image.load()
        image = ImageOps.exif_transpose(image) or image
        rgb = _to_rgb(image)
        if rgb.size != (width, height):
            rgb = rgb.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
        array = np.asarray(rgb, dtype=np.uint8)
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise ImageRejected(f"corrupt or truncated image data: {exc}") from exc
    if array.shape != (height, width, 3):  # pragma: no cover - defensive
        raise ImageRejected(f"unexpected decoded shape {array.shape}")
    return array


def decode_rgb(
    images: Sequence[ImageInput],
    size: int | tuple[int, int],
    limits: IntakeLimits = DEFAULT_LIMITS,
    first_index: int = 0,
) -> NDArray[np.uint8]:
    """Decode a batch to one array (n, height, width, 3); the first bad photo raises
    `ImageRejected` naming its index (counted from `first_index`: the batch's place in a
    longer list)."""
    width, height = (size, size) if isinstance(size, int) else size
    out = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for index, data in enumerate(images):
        try:
            out[index] = load_rgb(data, (width, height), limits)
        except ImageRejected as exc:
            raise ImageRejected(f"photo {first_index + index}: {exc}") from exc
    return out


def _check_pixels(dimensions: tuple[int, int], limits: IntakeLimits) -> None:
    width, height = dimensions
    if width < 1 or height < 1:
        raise ImageRejected(f"image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            f"image too large: {width}x{height} = {width * height:,} pixels "
            f"(limit {limits.max_pixels:,})"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency composited on white, 16/32-bit scaled to 8-bit."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) if values.size else 0.0
        scale = 255.0 / top if top > 255.0 else 1.0
        grey = np.clip(values * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
