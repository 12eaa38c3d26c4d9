"""Image intake: accepted formats and modes, EXIF orientation, limits, and clean rejections."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from features.images import (
    ImageRejected,
    IntakeLimits,
    decode_rgb,
    load_rgb,
    open_image,
)


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def half_red_half_blue(width: int = 64, height: int = 32) -> Image.Image:
    """Left half red, right half blue: orientation changes move the colours."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A valid-looking PNG claiming width x height RGB, with only a few bytes of pixel data
    (what a decompression bomb looks like before it is decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_rgb_at_size(fmt: str) -> None:
    data = (
        encode(half_red_half_blue(), fmt, quality=95)
        if fmt != "PNG"
        else encode(half_red_half_blue(), fmt)
    )
    array = load_rgb(data, 48)
    assert array.shape == (48, 48, 3) and array.dtype == np.uint8
    assert array[:, :20, 0].mean() > 200 and array[:, :20, 2].mean() < 60  # red left
    assert array[:, -20:, 2].mean() > 200 and array[:, -20:, 0].mean() < 60  # blue right


def test_non_square_size_is_width_height() -> None:
    assert load_rgb(encode(half_red_half_blue(), "PNG"), (40, 20)).shape == (20, 40, 3)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: the red half must end up on the right
    data = encode(half_red_half_blue(), "JPEG", quality=95, exif=exif.tobytes())
    array = load_rgb(data, 32)
    assert array[:, -10:, 0].mean() > 200
    assert array[:, :10, 2].mean() > 200


def test_greyscale_alpha_palette_and_16_bit_become_rgb() -> None:
    grey = Image.fromarray(np.full((20, 30), 128, dtype=np.uint8), mode="L")
    assert np.allclose(load_rgb(encode(grey, "PNG"), 16), 128, atol=1)
    # fully transparent black on white background: the photo reads as white
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert load_rgb(encode(rgba, "PNG"), 16).min() == 255
    palette = half_red_half_blue().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert load_rgb(encode(palette, "PNG"), 16).shape == (16, 16, 3)
    deep = Image.fromarray(np.full((10, 10), 65535, dtype=np.uint16))
    assert load_rgb(encode(deep, "PNG"), 8).min() == 255


def test_large_jpeg_is_decoded_in_draft_mode_and_resized() -> None:
    big = Image.fromarray(np.full((3000, 4000, 3), 90, dtype=np.uint8))
    data = encode(big, "JPEG", quality=80)
    image = open_image(data)
    image.draft("RGB", (448, 448))
    assert image.size[0] <= 1000  # the decoder itself scales down (1/4 or 1/8)
    assert load_rgb(data, 224).shape == (224, 224, 3)


def test_pil_images_are_accepted() -> None:
    assert decode_rgb([half_red_half_blue(), half_red_half_blue()], 16).shape == (2, 16, 16, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is a text file renamed photo.jpg\n" * 10, "not a recognised image"),
        (png_header_only(20_000, 20_000), "too large"),
        (
            b"\xff\xd8\xff\xe0" + b"\x00" * 200,
            "corrupt|not a recognised",
        ),  # JPEG magic, garbage after it
    ],
    ids=["zero-bytes", "text-as-jpg", "20000x20000-png-header", "corrupt-jpeg"],
)
def test_bad_uploads_are_rejected_cleanly(data: bytes, message: str) -> None:
    with pytest.raises(ImageRejected, match=message):
        load_rgb(data, 32)


def test_truncated_image_is_rejected() -> None:
    data = encode(half_red_half_blue(200, 200), "PNG")
    with pytest.raises(ImageRejected):
        load_rgb(data[: len(data) // 2], 32)
    jpeg = encode(half_red_half_blue(200, 200), "JPEG")
    with pytest.raises(ImageRejected):
        load_rgb(jpeg[: len(jpeg) // 3], 32)


def test_limits_on_bytes_pixels_and_formats() -> None:
    png = encode(half_red_half_blue(), "PNG")
    with pytest.raises(ImageRejected, match="file too large"):
        load_rgb(png, 16, IntakeLimits(max_bytes=len(png) - 1))
    with pytest.raises(ImageRejected, match="too large"):
        load_rgb(png, 16, IntakeLimits(max_pixels=64 * 32 - 1))
    gif = encode(half_red_half_blue(), "GIF")
    with pytest.raises(ImageRejected, match="not a recognised image"):
        load_rgb(gif, 16)
    with pytest.raises(ImageRejected, match="expected image bytes"):
        load_rgb("not bytes", 16)  # type: ignore[arg-type]


def test_batch_error_names_the_photo() -> None:
    good = encode(half_red_half_blue(), "PNG")
    with pytest.raises(ImageRejected, match="photo 1: empty"):
        decode_rgb([good, b"", good], 16)
    assert isinstance(ImageRejected("x"), ValueError)
