"""Procedurally rendered photos of returned items, with damage drawn where the truth says.

The simulated distributor world needs photos for the damage-assessment model: a product
(one of ``SHAPES``) lying on a table, floor, cardboard, cloth or studio sweep, shot by a
warehouse camera, sometimes in or beside its shipping box. Damage of the requested
``DamageType`` is painted on the product (or, for ``PACKAGING_ONLY``, on the box while the
product stays clean). Everything that is not in the spec (background, pose, light, box,
distractors, noise, blur, JPEG quality) is drawn from ``PhotoSpec.seed``, so a spec always
gives the same bytes, in any process.

Three independent random streams come from the seed: the scene (background, pose, light,
product details), the damage and the camera. Two specs that differ only in damage type or
severity therefore show the same product in the same scene, which makes paired tests and
counterfactual checks possible.

Rendering is vectorised: vector shapes are drawn with Pillow at 2x and reduced (that is the
anti-aliasing), shading, texture and blending are numpy array maths at 1x.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from features.codes import DamageType

SHAPES = ("housing", "cylinder", "bottle", "panel", "gear", "garment", "carton")
"""Product silhouettes; ``carton`` is boxed goods (a printed retail box)."""

F32 = NDArray[np.float32]
Points = NDArray[np.float64]
RGB = tuple[int, int, int]

_SS = 2  # supersampling factor of the vector layers (anti-aliasing)
_NOISE_VARIANTS = 3  # periodic noise fields per grid size in the per-process bank
_MIN_POOL_BATCH = 128  # smaller batches render faster in-process than via a pool
_PACKAGING_SHOWN_RATE = 0.3  # undamaged-box photos among non-PACKAGING_ONLY ones
_CLOSE_UP_RATE = 0.4  # photos zoomed in on part of the item (damage or not)

# Stream ids mixed with the seed: one independent random stream per concern.
_STREAM_SCENE = 0x5CE7E
_STREAM_DAMAGE = 0xDA3A6E
_STREAM_BOX = 0xB0C5
_STREAM_CAMERA = 0xCA3E7A


@dataclass(frozen=True)
class PhotoSpec:
    """What one photo shows; ``seed`` drives everything the spec does not fix."""

    shape: str
    color: tuple[int, int, int]
    damage_type: DamageType
    severity: float
    seed: int

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        if len(self.color) != 3 or any(not 0 <= c <= 255 for c in self.color):
            raise ValueError(f"color must be an RGB triple in 0..255, got {self.color!r}")
        if not 0.0 <= self.severity <= 1.0:
            raise ValueError(f"severity must be in 0..1, got {self.severity!r}")


def specs_from_rows(rows: Iterable[Any], label_column: str = "damage_type") -> list[PhotoSpec]:
    """Photo specs from table rows (`DataFrame.itertuples()`) with the columns shape, color_r,
    color_g, color_b, severity, seed and the damage type in `label_column`."""
    return [
        PhotoSpec(
            shape=str(row.shape),
            color=(int(row.color_r), int(row.color_g), int(row.color_b)),
            damage_type=DamageType(getattr(row, label_column)),
            severity=float(row.severity),
            seed=int(row.seed),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class PhotoRender:
    """A rendered photo with its ground-truth masks (size x size arrays)."""

    image: Image.Image
    product_mask: F32  # visible product coverage, 0..1
    packaging_mask: F32  # visible box coverage, 0..1 (zeros when no box is shown)
    damage_mask: NDArray[np.bool_]  # pixels where damage was drawn (product or box)


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Pose:
    """Placement of a shape's local frame (unit ~ half the object's extent) in the image."""

    cx: float
    cy: float
    scale: float  # pixels per local unit
    angle: float  # radians, image y axis points down

    def px(self, pts: Points, ss: int = _SS) -> list[tuple[float, float]]:
        """Local points (n, 2) -> pixel coordinates on a canvas supersampled by ``ss``."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        x = self.cx + self.scale * (pts[:, 0] * c - pts[:, 1] * s)
        y = self.cy + self.scale * (pts[:, 0] * s + pts[:, 1] * c)
        return list(zip((x * ss).tolist(), (y * ss).tolist(), strict=True))

    def local(self, size: int) -> tuple[F32, F32]:
        """Per-pixel local coordinates (u, v) of the image grid."""
        xs, ys = _grid(size)
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx = xs - np.float32(self.cx)
        dy = ys - np.float32(self.cy)
        inv = np.float32(1.0 / self.scale)
        u = (dx * np.float32(c) + dy * np.float32(s)) * inv
        v = (dy * np.float32(c) - dx * np.float32(s)) * inv
        return u, v


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[F32, F32]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


@lru_cache(maxsize=4)
def _view_xy(size: int) -> F32:
    """Per-column (and, by symmetry, per-row) x/y component of the direction to the camera.

    The camera sits 1.6 image widths above the centre; the vector is left unnormalised
    (its length is within 10 % of 1), which keeps the half vector separable in x and y.
    """
    c = (size - 1) / 2.0
    v = ((c - np.arange(size, dtype=np.float32)) / np.float32(1.6 * size)).astype(np.float32)
    v.setflags(write=False)
    return v


@lru_cache(maxsize=4)
def _radial(size: int) -> F32:
    xs, ys = _grid(size)
    c = (size - 1) / 2.0
    r = (((xs - c) ** 2 + (ys - c) ** 2) / (2.0 * c * c)).astype(np.float32)
    r.setflags(write=False)
    return r


def _ellipse_pts(
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    n: int = 28,
    a0: float = 0.0,
    a1: float = 2 * math.pi,
) -> Points:
    t = np.linspace(a0, a1, n, endpoint=not math.isclose(a1 - a0, 2 * math.pi))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _rrect_pts(hw: float, hh: float, r: float, cx: float = 0.0, cy: float = 0.0) -> Points:
    r = min(r, hw, hh)
    parts = []
    for ox, oy, a0 in (
        (hw - r, hh - r, 0.0),
        (-hw + r, hh - r, 0.5),
        (-hw + r, -hh + r, 1.0),
        (hw - r, -hh + r, 1.5),
    ):
        t = np.linspace(a0 * math.pi, (a0 + 0.5) * math.pi, 6)
        parts.append(np.stack([cx + ox + r * np.cos(t), cy + oy + r * np.sin(t)], axis=1))
    return np.concatenate(parts)


def _rect_pts(x0: float, y0: float, x1: float, y1: float) -> Points:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _jagged_pts(
    rng: np.random.Generator, cx: float, cy: float, r: float, n: int, jag: float
) -> list[tuple[float, float]]:
    """An irregular closed polygon in pixel coordinates (already supersampled)."""
    t = np.sort(rng.uniform(0, 2 * math.pi, n))
    rr = r * (1.0 - jag * rng.random(n))
    return list(zip((cx + rr * np.cos(t)).tolist(), (cy + rr * np.sin(t)).tolist(), strict=True))


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=64)
def _noise_bank(size: int, cells_x: int, cells_y: int) -> tuple[F32, ...]:
    """A few periodic value-noise fields (0..1) per grid; built once per process, fixed seed."""
    rng = np.random.default_rng([size, cells_x, cells_y, 0x0153])
    fields = []
    kx, ky = size / cells_x, size / cells_y
    for _ in range(_NOISE_VARIANTS):
        small = np.pad(rng.random((cells_y, cells_x), dtype=np.float32), 2, mode="wrap")
        big = Image.fromarray(small).resize(
            (round((cells_x + 4) * kx), round((cells_y + 4) * ky)), Image.Resampling.BICUBIC
        )
        x0, y0 = round(2 * kx), round(2 * ky)
        field = np.asarray(big, dtype=np.float32)[y0 : y0 + size, x0 : x0 + size].copy()
        field.setflags(write=False)
        fields.append(field)
    return tuple(fields)


def _smooth_noise(rng: np.random.Generator, size: int, cells_x: int, cells_y: int) -> F32:
    """Value noise in 0..1 with about ``cells_x`` x ``cells_y`` bumps over the image.

    A periodic field from a small per-process bank, shifted and flipped by ``rng``: upsampling
    a fresh random grid for every photo would cost more than the whole shading.
    """
    bank = _noise_bank(size, cells_x, cells_y)
    field = bank[int(rng.integers(len(bank)))]
    dy, dx = (int(v) for v in rng.integers(0, size, 2))
    out = np.roll(field, (dy, dx), axis=(0, 1))
    flip = int(rng.integers(4))
    if flip & 1:
        out = out[::-1]
    if flip & 2:
        out = out[:, ::-1]
    return out


def _to_f32(img: Image.Image) -> F32:
    return np.asarray(img, dtype=np.float32)


def _planar(img: Image.Image) -> F32:
    """An RGB image as a (3, H, W) float32 array."""
    return np.asarray(img).transpose(2, 0, 1).astype(np.float32)


def _reduce(img: Image.Image) -> Image.Image:
    return img.reduce(_SS) if _SS > 1 else img


def _blur_l(img: Image.Image, radius: float) -> Image.Image:
    """Cheap blur of an 8-bit image: a box filter for small radii, else down- and upsampling."""
    if radius <= 0:
        return img
    if radius < 1.6:
        return img.filter(ImageFilter.BoxBlur(radius))
    w, h = img.size
    k = radius * 1.2
    small = img.resize((max(2, round(w / k)), max(2, round(h / k))), Image.Resampling.BOX)
    return small.resize((w, h), Image.Resampling.BICUBIC)


def _bbox(mask: F32, pad: int = 3) -> tuple[slice, slice] | None:
    """Row and column slices around the nonzero part of ``mask`` (None when it is empty)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    n, m = mask.shape
    return (
        slice(max(0, int(rows[0]) - pad), min(n, int(rows[-1]) + pad + 1)),
        slice(max(0, int(cols[0]) - pad), min(m, int(cols[-1]) + pad + 1)),
    )


def _luma(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _jitter(rng: np.random.Generator, c: Sequence[float], amount: float) -> RGB:
    v = np.clip(np.asarray(c, dtype=np.float64) + rng.normal(0, amount, 3), 0, 255)
    return (int(v[0]), int(v[1]), int(v[2]))


def _scale_rgb(c: Sequence[float], k: float) -> RGB:
    return (int(min(255, c[0] * k)), int(min(255, c[1] * k)), int(min(255, c[2] * k)))


def _contrast_ink(rng: np.random.Generator, base: Sequence[float]) -> RGB:
    """A print colour that reads on ``base`` (labels, logos, text)."""
    if _luma(base) > 140:
        return _jitter(rng, (35, 35, 40), 12)
    return _jitter(rng, (235, 235, 230), 10)


def _choose(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _sample_points(
    rng: np.random.Generator, region: NDArray[np.bool_], n: int
) -> list[tuple[float, float]]:
    """``n`` random pixel positions (x, y) inside ``region`` (empty list if it is empty).

    People photograph damage near the middle of the frame: each point is the most central of
    three candidates.
    """
    idx = np.flatnonzero(region)
    if idx.size == 0:
        return []
    size = region.shape[1]
    cand = idx[rng.integers(0, idx.size, (n, 3))]
    c = (size - 1) / 2.0
    dist = (cand % size - c) ** 2 + (cand // size - c) ** 2
    pick = cand[np.arange(n), np.argmin(dist, axis=1)]
    return [(float(p % size), float(p // size)) for p in pick]


# --------------------------------------------------------------------------- background


_WOODS: tuple[RGB, ...] = (
    (150, 105, 65),
    (190, 150, 105),
    (95, 65, 45),
    (215, 195, 165),
    (120, 90, 70),
)
_FLOORS: tuple[RGB, ...] = (
    (140, 140, 135),
    (110, 112, 115),
    (170, 165, 155),
    (90, 95, 90),
    (150, 150, 160),
)
_CLOTHS: tuple[RGB, ...] = (
    (60, 70, 110),
    (120, 40, 45),
    (70, 100, 70),
    (200, 200, 195),
    (45, 45, 50),
    (160, 130, 90),
)
_SWEEPS: tuple[RGB, ...] = (
    (235, 235, 235),
    (200, 205, 210),
    (225, 220, 205),
    (160, 165, 170),
    (70, 72, 78),
)
_CARDBOARD: RGB = (178, 138, 92)


def _background(rng: np.random.Generator, size: int) -> F32:
    kind = _choose(rng, ("table", "floor", "cardboard", "cloth", "gradient"))
    xs, ys = _grid(size)
    low = _smooth_noise(rng, size, 4, 4)
    if kind == "table":
        base = np.array(_jitter(rng, _WOODS[int(rng.integers(len(_WOODS)))], 12), np.float32)
        a = rng.uniform(0, math.pi)
        along = xs * np.float32(math.cos(a)) + ys * np.float32(math.sin(a))
        across = ys * np.float32(math.cos(a)) - xs * np.float32(math.sin(a))
        warp = _smooth_noise(rng, size, 3, 6) * np.float32(rng.uniform(8, 30))
        freq = np.float32(rng.uniform(0.15, 0.5))
        grain = np.sin((across + warp) * freq + np.float32(0.02) * along)
        grain2 = np.sin((across + 0.5 * warp) * freq * np.float32(2.7))
        shade = 1.0 + 0.07 * grain + 0.035 * grain2 + 0.12 * (low - 0.5)
        plank = float(rng.uniform(50, 120))
        seam = np.abs(((across + 1000.0) % plank) - plank / 2) > plank / 2 - 1.0
        shade = shade * np.where(seam, np.float32(0.6), np.float32(1.0))
    elif kind == "floor":
        base = np.array(_jitter(rng, _FLOORS[int(rng.integers(len(_FLOORS)))], 10), np.float32)
        mid = _smooth_noise(rng, size, 24, 24)
        fine = rng.random((size, size), dtype=np.float32)
        shade = 1.0 + 0.18 * (low - 0.5) + 0.1 * (mid - 0.5) + 0.08 * (fine - 0.5)
        if rng.random() < 0.5:  # tiles with grout lines
            tile = float(rng.uniform(60, 140))
            off = rng.uniform(0, tile, 2)
            grout = (((xs + off[0]) % tile) < 2.0) | (((ys + off[1]) % tile) < 2.0)
            shade = shade * np.where(grout, np.float32(0.7), np.float32(1.0))
    elif kind == "cardboard":
        base = np.array(_jitter(rng, _CARDBOARD, 12), np.float32)
        period = float(rng.uniform(3.0, 6.0))
        flute = np.sin((xs if rng.random() < 0.5 else ys) * np.float32(2 * math.pi / period))
        mid = _smooth_noise(rng, size, 16, 16)
        shade = 1.0 + 0.03 * flute + 0.12 * (low - 0.5) + 0.08 * (mid - 0.5)
    elif kind == "cloth":
        base = np.array(_jitter(rng, _CLOTHS[int(rng.integers(len(_CLOTHS)))], 15), np.float32)
        f = np.float32(rng.uniform(1.2, 2.2))
        weave = np.sin(xs * f) * np.sin(ys * f)
        wrinkle = _smooth_noise(rng, size, 5, 3)
        shade = 1.0 + 0.06 * weave + 0.35 * (wrinkle - 0.5) + 0.08 * (low - 0.5)
    else:  # studio sweep: a smooth two-tone gradient
        top = np.array(_jitter(rng, _SWEEPS[int(rng.integers(len(_SWEEPS)))], 10), np.float32)
        k = np.float32(rng.uniform(0.7, 1.0))
        shade = (1.0 - (1.0 - k) * ys / np.float32(size)) * (1.0 + 0.05 * (low - 0.5))
        base = top
    return (base[:, None, None] * shade[None]).astype(np.float32)


# --------------------------------------------------------------------------- layers


class _Layer:
    """An object drawn at 2x: albedo (RGB), coverage mask (L) and relief (L, 128 = flat)."""

    def __init__(self, size: int, color: RGB) -> None:
        s = size * _SS
        self.size = size
        self.albedo = Image.new("RGB", (s, s), color)
        self.mask = Image.new("L", (s, s), 0)
        self.relief = Image.new("L", (s, s), 128)
        self.paint = ImageDraw.Draw(self.albedo, "RGBA")
        self.cover = ImageDraw.Draw(self.mask)
        self.bump = ImageDraw.Draw(self.relief)

    def line(
        self,
        pts: list[tuple[float, float]],
        color: RGB,
        width: float,
        alpha: int = 255,
        relief: int | None = None,
    ) -> None:
        w = max(1, round(width * _SS))
        self.paint.line(pts, fill=(*color, alpha), width=w, joint="curve")
        if relief is not None:
            self.bump.line(pts, fill=relief, width=w)

    def poly(
        self,
        pts: list[tuple[float, float]],
        color: RGB,
        alpha: int = 255,
        relief: int | None = None,
    ) -> None:
        self.paint.polygon(pts, fill=(*color, alpha))
        if relief is not None:
            self.bump.polygon(pts, fill=relief)


@dataclass
class _Arrays:
    """A layer reduced to 1x numpy arrays, ready for numpy-side effects and shading."""

    albedo: F32  # (3, S, S) 0..255, channel-planar (numpy broadcasts fastest this way)
    mask: F32  # (S, S) 0..1
    height: F32  # (S, S) in pixels
    gloss: float  # specular strength
    shininess: int  # power of two, exponent of the specular lobe
    sheen: F32 | None = None  # extra specular weight map (wet stains), or None


def _to_arrays(
    layer: _Layer,
    bevel_px: float,
    bevel_h: float,
    relief_h: float,
    bevel01: F32 | None = None,
    mask_img: Image.Image | None = None,
) -> _Arrays:
    if mask_img is None:
        mask_img = _reduce(layer.mask)
    mask = _to_f32(mask_img) * np.float32(1 / 255)
    if bevel_h <= 0:
        bevel = np.zeros_like(mask)
    else:
        if bevel01 is None:
            bevel01 = _to_f32(_blur_l(mask_img, bevel_px)) * np.float32(1 / 255)
        bevel = bevel01 * np.float32(bevel_h)
    relief = (_to_f32(_reduce(layer.relief)) - 128.0) * np.float32(relief_h / 128)
    return _Arrays(
        albedo=_planar(_reduce(layer.albedo)),
        mask=mask,
        height=(bevel + relief).astype(np.float32),
        gloss=0.0,
        shininess=16,
    )


# --------------------------------------------------------------------------- products


@dataclass
class _Product:
    layer: _Layer
    pose: _Pose
    material: str  # plastic, metal, fabric, printed
    profile: str  # flat, cylinder, folds


def _logo(
    layer: _Layer, pose: _Pose, rng: np.random.Generator, cx: float, cy: float, w: float, ink: RGB
) -> None:
    """Brand mark: a small glyph and a few text bars (thin dark/bright lines on purpose)."""
    h = w * rng.uniform(0.12, 0.2)
    if rng.random() < 0.5:
        layer.poly(pose.px(_ellipse_pts(cx - w / 2 + h, cy, h, h, 16)), ink, 230)
    else:
        layer.poly(pose.px(_rect_pts(cx - w / 2, cy - h, cx - w / 2 + 2 * h, cy + h)), ink, 230)
    x0 = cx - w / 2 + 2.6 * h
    n = int(rng.integers(1, 4))
    for i in range(n):
        yy = cy - h + (2 * h) * (i + 0.5) / n
        x1 = x0 + (cx + w / 2 - x0) * rng.uniform(0.5, 1.0)
        layer.line(
            pose.px(np.array([[x0, yy], [x1, yy]])), ink, max(1.0, h * pose.scale / n * 0.6), 215
        )


def _label(
    layer: _Layer,
    pose: _Pose,
    rng: np.random.Generator,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    paper: RGB,
) -> None:
    """A paper label with text lines and sometimes a barcode (many thin dark lines)."""
    layer.poly(pose.px(_rect_pts(x0, y0, x1, y1)), paper, 250, relief=134)
    ink = _contrast_ink(rng, paper)
    rows = int(rng.integers(2, 5))
    for i in range(rows):
        yy = y0 + (y1 - y0) * (0.2 + 0.35 * (i + 0.5) / rows)
        xe = x0 + (x1 - x0) * rng.uniform(0.4, 0.9)
        layer.line(pose.px(np.array([[x0 + 0.08 * (x1 - x0), yy], [xe, yy]])), ink, 1.0, 200)
    if rng.random() < 0.6:
        bx = np.linspace(x0 + 0.1 * (x1 - x0), x0 + 0.6 * (x1 - x0), int(rng.integers(8, 16)))
        for x in bx:
            layer.line(
                pose.px(np.array([[x, y0 + 0.65 * (y1 - y0)], [x, y0 + 0.9 * (y1 - y0)]])),
                ink,
                1.0 if rng.random() < 0.7 else 1.5,
                230,
            )


def _housing(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    hh = rng.uniform(0.55, 0.85)
    outline = _rrect_pts(1.0, hh, rng.uniform(0.08, 0.3))
    layer.poly(pose.px(outline), color)
    layer.cover.polygon(pose.px(outline), fill=255)
    ink = _contrast_ink(rng, color)
    if rng.random() < 0.55:  # screen / window, glossy dark
        sw, sh = rng.uniform(0.3, 0.55), rng.uniform(0.2, 0.4) * hh
        sx = rng.uniform(-0.3, 0.1)
        layer.poly(
            pose.px(_rrect_pts(sw, sh, 0.04, sx, -0.15 * hh)),
            _jitter(rng, (30, 35, 40), 8),
            relief=118,
        )
    if rng.random() < 0.7:  # buttons
        n = int(rng.integers(2, 5))
        by = hh * rng.uniform(0.35, 0.6)
        bc = _jitter(rng, _scale_rgb(color, rng.uniform(0.5, 1.4)), 20)
        for i in range(n):
            bx = -0.6 + 1.2 * (i + 0.5) / n
            layer.poly(pose.px(_ellipse_pts(bx, by, 0.08, 0.08, 14)), bc, relief=165)
    if rng.random() < 0.6:  # vent slots: short parallel dark recessed lines
        n = int(rng.integers(4, 9))
        vx = rng.uniform(0.45, 0.75)
        for i in range(n):
            y = -0.6 * hh + 0.9 * hh * i / n
            layer.line(
                pose.px(np.array([[vx, y], [vx + 0.18, y]])),
                _scale_rgb(color, 0.35),
                1.4,
                220,
                relief=70,
            )
    if rng.random() < 0.5:  # parting line of the moulding
        y = rng.uniform(-0.7, 0.7) * hh
        layer.line(
            pose.px(np.array([[-0.98, y], [0.98, y]])),
            _scale_rgb(color, 0.55),
            1.0,
            180,
            relief=100,
        )
    if rng.random() < 0.6:
        _logo(
            layer,
            pose,
            rng,
            rng.uniform(-0.5, 0.2),
            -0.7 * hh * rng.uniform(0.6, 1.0),
            rng.uniform(0.35, 0.6),
            ink,
        )
    for sx, sy in ((-0.88, -hh + 0.12), (0.88, -hh + 0.12), (-0.88, hh - 0.12), (0.88, hh - 0.12)):
        if rng.random() < 0.4:
            layer.poly(pose.px(_ellipse_pts(sx, sy, 0.045, 0.045, 10)), (150, 150, 150), relief=150)
    return _Product(layer, pose, "plastic" if rng.random() < 0.75 else "metal", "flat")


def _cylinder(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    w = rng.uniform(0.45, 0.62)
    cap = w * rng.uniform(0.18, 0.3)
    top = _ellipse_pts(0, -1.0, w, cap, 14, math.pi, 2 * math.pi)
    bottom = _ellipse_pts(0, 1.0, w, cap, 14, 0, math.pi)
    outline = np.concatenate([top, bottom])
    layer.poly(pose.px(outline), color)
    layer.cover.polygon(pose.px(outline), fill=255)
    layer.poly(pose.px(_ellipse_pts(0, -1.0, w, cap, 28)), _scale_rgb(color, 1.25), relief=140)
    layer.line(
        pose.px(_ellipse_pts(0, -1.0, w * 0.8, cap * 0.8, 28)), _scale_rgb(color, 0.7), 1.0, 160
    )
    t = np.linspace(-w, w, 12)
    for _ in range(int(rng.integers(0, 4))):  # grooves / bands
        y = rng.uniform(-0.8, 0.9)
        pts = np.stack([t, y + cap * np.sqrt(np.clip(1 - (t / w) ** 2, 0, 1))], axis=1)
        layer.line(pose.px(pts), _scale_rgb(color, 0.6), 1.2, 200, relief=90)
    if rng.random() < 0.55:
        y0 = rng.uniform(-0.5, 0.1)
        _label(
            layer,
            pose,
            rng,
            -w * 0.85,
            y0,
            w * 0.6,
            y0 + rng.uniform(0.35, 0.6),
            _jitter(rng, (235, 232, 225), 8),
        )
    elif rng.random() < 0.6:
        _logo(layer, pose, rng, 0.0, rng.uniform(-0.4, 0.4), w * 1.2, _contrast_ink(rng, color))
    return _Product(layer, pose, "metal" if rng.random() < 0.5 else "plastic", "cylinder")


def _bottle(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    w = rng.uniform(0.36, 0.5)
    nw = rng.uniform(0.13, 0.19)
    sh = rng.uniform(-0.45, -0.25)
    neck = rng.uniform(-0.8, -0.68)
    body = np.array(
        [
            [-nw, neck],
            [-nw, sh - 0.15],
            [-w * 0.8, sh - 0.05],
            [-w, sh + 0.08],
            [-w, 0.9],
            [-w + 0.1, 1.0],
            [w - 0.1, 1.0],
            [w, 0.9],
            [w, sh + 0.08],
            [w * 0.8, sh - 0.05],
            [nw, sh - 0.15],
            [nw, neck],
        ]
    )
    layer.poly(pose.px(body), color)
    layer.cover.polygon(pose.px(body), fill=255)
    cap_c = _jitter(
        rng, ((240, 240, 240), (30, 30, 30), (200, 40, 40), (40, 90, 170))[int(rng.integers(4))], 10
    )
    cap = _rect_pts(-nw * 1.15, -1.0, nw * 1.15, neck + 0.02)
    layer.poly(pose.px(cap), cap_c, relief=140)
    layer.cover.polygon(pose.px(cap), fill=255)
    for k in range(3):  # cap ridges
        y = -1.0 + (neck + 1.0) * (k + 1) / 4
        layer.line(
            pose.px(np.array([[-nw * 1.1, y], [nw * 1.1, y]])), _scale_rgb(cap_c, 0.7), 1.0, 120
        )
    if rng.random() < 0.8:
        y0 = rng.uniform(sh + 0.15, 0.2)
        paper = _jitter(
            rng, ((238, 236, 230), (250, 210, 60), (60, 60, 70))[int(rng.integers(3))], 10
        )
        _label(layer, pose, rng, -w * 0.98, y0, w * 0.98, y0 + rng.uniform(0.4, 0.7), paper)
    return _Product(layer, pose, "plastic", "cylinder")


def _panel(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    hh = rng.uniform(0.5, 0.85)
    outline = _rrect_pts(1.0, hh, rng.uniform(0.0, 0.08))
    layer.poly(pose.px(outline), color)
    layer.cover.polygon(pose.px(outline), fill=255)
    for _ in range(int(rng.integers(0, 3))):  # bend / stamped lines
        y = rng.uniform(-0.8, 0.8) * hh
        layer.line(
            pose.px(np.array([[-0.95, y], [0.95, y]])),
            _scale_rgb(color, 1.12),
            1.5,
            150,
            relief=150,
        )
    if rng.random() < 0.5:
        x0, y0 = rng.uniform(-0.8, -0.2), rng.uniform(-0.7, -0.1) * hh
        layer.line(
            pose.px(_rect_pts(x0, y0, x0 + 0.5, y0 + 0.5 * hh)[[0, 1, 2, 3, 0]]),
            _scale_rgb(color, 0.75),
            1.0,
            170,
            relief=105,
        )
    holes = rng.random() < 0.8
    hr = rng.uniform(0.05, 0.09)
    for hx, hy in ((-0.85, -hh + 0.15), (0.85, -hh + 0.15), (-0.85, hh - 0.15), (0.85, hh - 0.15)):
        if holes:
            layer.cover.polygon(pose.px(_ellipse_pts(hx, hy, hr, hr, 14)), fill=0)
        else:
            layer.poly(pose.px(_ellipse_pts(hx, hy, hr, hr, 14)), (160, 160, 165), relief=160)
    if rng.random() < 0.35:  # slot cut-out
        sx = rng.uniform(-0.4, 0.3)
        layer.cover.polygon(
            pose.px(_rrect_pts(0.2, 0.05, 0.05, sx, rng.uniform(-0.3, 0.3) * hh)), fill=0
        )
    if rng.random() < 0.45:
        x0 = rng.uniform(-0.2, 0.3)
        _label(
            layer,
            pose,
            rng,
            x0,
            0.1 * hh,
            x0 + 0.45,
            0.1 * hh + 0.35,
            _jitter(rng, (232, 230, 222), 8),
        )
    return _Product(layer, pose, "metal", "flat")


def _gear(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    n = int(rng.integers(10, 25))
    depth = rng.uniform(0.1, 0.18)
    t = np.linspace(0, 2 * math.pi, 4 * n, endpoint=False) + 0.5 * math.pi / n
    r = np.where((np.arange(4 * n) % 4) < 2, 1.0, 1.0 - depth)
    outline = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    layer.poly(pose.px(outline), color)
    layer.cover.polygon(pose.px(outline), fill=255)
    hub = rng.uniform(0.35, 0.5)
    layer.line(
        pose.px(_ellipse_pts(0, 0, hub, hub, 36)[[*range(36), 0]]),
        _scale_rgb(color, 0.8),
        1.5,
        170,
        relief=165,
    )
    layer.line(
        pose.px(_ellipse_pts(0, 0, 1 - depth - 0.08, 1 - depth - 0.08, 48)[[*range(48), 0]]),
        _scale_rgb(color, 0.85),
        1.0,
        120,
        relief=110,
    )
    hole = rng.uniform(0.14, 0.26)
    layer.cover.polygon(pose.px(_ellipse_pts(0, 0, hole, hole, 24)), fill=0)
    if rng.random() < 0.6:  # keyway
        layer.cover.polygon(pose.px(_rect_pts(-0.04, -hole - 0.06, 0.04, -hole + 0.02)), fill=0)
    if rng.random() < 0.3:  # lightening holes between hub and rim
        k = int(rng.integers(4, 7))
        rr = (hub + 1 - depth) / 2
        for i in range(k):
            a = 2 * math.pi * i / k
            layer.cover.polygon(
                pose.px(_ellipse_pts(rr * math.cos(a), rr * math.sin(a), 0.09, 0.09, 14)), fill=0
            )
    return _Product(layer, pose, "metal", "flat")


def _garment(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    sl = rng.uniform(0.9, 1.05)
    bw = rng.uniform(0.55, 0.7)
    outline = np.array(
        [
            [-0.22, -0.85],
            [-0.5, -0.8],
            [-sl, -0.45],
            [-sl + 0.2, -0.22],
            [-bw, -0.4],
            [-bw, 0.95],
            [bw, 0.95],
            [bw, -0.4],
            [sl - 0.2, -0.22],
            [sl, -0.45],
            [0.5, -0.8],
            [0.22, -0.85],
        ]
    )
    neck = _ellipse_pts(0, -0.85, 0.22, rng.uniform(0.1, 0.2), 10, 0, math.pi)
    outline = np.concatenate([outline[:11], neck[::-1][1:-1], outline[11:]])
    layer.poly(pose.px(outline), color)
    layer.cover.polygon(pose.px(outline), fill=255)
    seam = _scale_rgb(color, 0.7)
    layer.line(
        pose.px(_ellipse_pts(0, -0.85, 0.26, 0.22, 12, 0, math.pi)), seam, 2.0, 160, relief=110
    )
    layer.line(pose.px(np.array([[-bw, 0.87], [bw, 0.87]])), seam, 1.0, 150, relief=115)
    layer.line(pose.px(np.array([[-sl + 0.05, -0.4], [-sl + 0.24, -0.28]])), seam, 1.0, 140)
    layer.line(pose.px(np.array([[sl - 0.05, -0.4], [sl - 0.24, -0.28]])), seam, 1.0, 140)
    layer.line(pose.px(np.array([[-0.5, -0.8], [-bw, -0.4]])), seam, 1.0, 120, relief=115)
    layer.line(pose.px(np.array([[0.5, -0.8], [bw, -0.4]])), seam, 1.0, 120, relief=115)
    if rng.random() < 0.45:  # chest print
        ink = _jitter(
            rng,
            ((240, 240, 240), (20, 20, 20), (200, 40, 40), (240, 200, 40))[int(rng.integers(4))],
            10,
        )
        _logo(layer, pose, rng, 0.0, rng.uniform(-0.35, 0.1), rng.uniform(0.5, 0.8), ink)
    elif rng.random() < 0.3:  # stripes
        for y in np.arange(-0.6, 0.9, rng.uniform(0.12, 0.25)):
            layer.line(pose.px(np.array([[-bw, y], [bw, y]])), _contrast_ink(rng, color), 3.0, 200)
    return _Product(layer, pose, "fabric", "folds")


def _carton(rng: np.random.Generator, layer: _Layer, pose: _Pose, color: RGB) -> _Product:
    hw, hh = rng.uniform(0.6, 0.8), rng.uniform(0.55, 0.85)
    dx, dy = rng.uniform(0.15, 0.3) * (1 if rng.random() < 0.5 else -1), -rng.uniform(0.12, 0.25)
    front = _rect_pts(-hw, -hh, hw, hh)
    top = np.array([[-hw, -hh], [hw, -hh], [hw + dx, -hh + dy], [-hw + dx, -hh + dy]])
    sx = hw if dx > 0 else -hw
    side = np.array([[sx, -hh], [sx + dx, -hh + dy], [sx + dx, hh + dy], [sx, hh]])
    for face in (front, top, side):
        layer.cover.polygon(pose.px(face), fill=255)
    layer.poly(pose.px(front), color)
    layer.poly(pose.px(top), _scale_rgb(color, 1.22))
    layer.poly(pose.px(side), _scale_rgb(color, 0.72))
    band = _jitter(rng, ((245, 245, 240), (30, 30, 35), (230, 190, 40))[int(rng.integers(3))], 8)
    y0 = rng.uniform(-0.2, 0.3) * hh
    layer.poly(pose.px(_rect_pts(-hw, y0, hw, y0 + rng.uniform(0.15, 0.35))), band)
    if rng.random() < 0.6:  # product picture
        layer.poly(
            pose.px(_rrect_pts(hw * 0.35, hh * 0.25, 0.05, -hw * 0.3, -hh * 0.45)),
            _jitter(rng, _scale_rgb(color, 0.6), 25),
        )
    _logo(layer, pose, rng, hw * 0.25, -hh * 0.7, hw * 0.7, _contrast_ink(rng, color))
    _logo(layer, pose, rng, 0.0, y0 + 0.1, hw * 0.8, _contrast_ink(rng, band))
    edge = _scale_rgb(color, 0.5)
    for a, b in ((front[0], front[1]), (front[1], front[2]) if dx > 0 else (front[3], front[0])):
        layer.line(pose.px(np.array([a, b])), edge, 1.0, 140)
    return _Product(layer, pose, "printed", "flat")


_BUILDERS = {
    "housing": _housing,
    "cylinder": _cylinder,
    "bottle": _bottle,
    "panel": _panel,
    "gear": _gear,
    "garment": _garment,
    "carton": _carton,
}
_EXTENT = {  # rough half-extent of each shape in local units (for framing)
    "housing": 1.0,
    "cylinder": 1.1,
    "bottle": 1.0,
    "panel": 1.0,
    "gear": 1.0,
    "garment": 1.05,
    "carton": 1.05,
}
_MATERIALS: dict[str, tuple[float, int, float]] = {  # gloss, shininess, bevel height (px)
    "plastic": (0.35, 32, 5.0),
    "metal": (0.65, 16, 4.0),
    "fabric": (0.04, 4, 6.0),
    "printed": (0.18, 16, 2.0),
    "cardboard": (0.06, 4, 2.0),
}


# --------------------------------------------------------------------------- packaging


@dataclass
class _BoxPlan:
    """Where a shipping box sits relative to the product."""

    mode: str  # "behind" (box beside/behind the product) or "inside" (product in an open box)
    cx: float
    cy: float
    hw: float
    hh: float
    dx: float  # depth vector of the 3-D box (pixels)
    dy: float
    tint: RGB


def _plan_box(rng: np.random.Generator, size: int, pcx: float, pcy: float, ext: float) -> _BoxPlan:
    mode = "inside" if rng.random() < 0.45 else "behind"
    side = 1.0 if rng.random() < 0.5 else -1.0
    tint = _jitter(
        rng,
        ((178, 138, 92), (190, 155, 110), (160, 120, 80), (205, 185, 150))[int(rng.integers(4))],
        8,
    )
    if mode == "inside":
        hw = ext * rng.uniform(1.1, 1.35)
        top = pcy + ext * rng.uniform(0.25, 0.65)
        hh = rng.uniform(0.45, 0.6) * size
        return _BoxPlan(
            mode,
            pcx + rng.uniform(-0.1, 0.1) * ext,
            top + hh,
            hw,
            hh,
            side * hw * rng.uniform(0.15, 0.3),
            -ext * rng.uniform(0.3, 0.45),
            tint,
        )
    hw = ext * rng.uniform(0.8, 1.15)
    hh = ext * rng.uniform(0.6, 0.95)
    return _BoxPlan(
        mode,
        pcx + side * ext * rng.uniform(0.7, 1.0),
        pcy - ext * rng.uniform(0.25, 0.55),
        hw,
        hh,
        -side * hw * rng.uniform(0.25, 0.4),
        -hh * rng.uniform(0.25, 0.4),
        tint,
    )


def _box_layers(rng: np.random.Generator, plan: _BoxPlan, size: int) -> tuple[_Layer, _Layer]:
    """Draw the box: (back layer, drawn before the product; front layer, drawn after)."""
    back = _Layer(size, plan.tint)
    front = _Layer(size, plan.tint)
    ident = _Pose(0.0, 0.0, 1.0, 0.0)
    x0, x1 = plan.cx - plan.hw, plan.cx + plan.hw
    y0, y1 = plan.cy - plan.hh, plan.cy + plan.hh
    dx, dy = plan.dx, plan.dy
    face = _rect_pts(x0, y0, x1, y1)
    sx = x1 if dx > 0 else x0
    side = np.array([[sx, y0], [sx + dx, y0 + dy], [sx + dx, y1 + dy], [sx, y1]])
    top = np.array([[x0, y0], [x1, y0], [x1 + dx, y0 + dy], [x0 + dx, y0 + dy]])
    dark = _scale_rgb(plan.tint, 0.72)
    if plan.mode == "inside":
        # opening: the far wall's inside is lit, the floor of the box is in shadow
        back.poly(ident.px(top), _scale_rgb(plan.tint, 0.45))
        back.cover.polygon(ident.px(top), fill=255)
        flap_h = rng.uniform(0.25, 0.6) * plan.hh
        for a, b in ((top[3], top[2]), (top[0], top[3]), (top[1], top[2])):
            if rng.random() < 0.75:
                tilt = rng.uniform(-0.4, 0.4) * flap_h
                flap = np.array([a, b, [b[0] + tilt, b[1] - flap_h], [a[0] + tilt, a[1] - flap_h]])
                back.poly(ident.px(flap), _scale_rgb(plan.tint, rng.uniform(0.85, 1.1)))
                back.cover.polygon(ident.px(flap), fill=255)
                back.line(ident.px(np.array([a, b])), dark, 1.0, 150, relief=110)
        target = front
    else:
        target = back
        target.poly(ident.px(top), _scale_rgb(plan.tint, 1.12))
        target.cover.polygon(ident.px(top), fill=255)
        tw = rng.uniform(0.08, 0.16) * plan.hw
        mid = (x0 + x1) / 2
        tape = np.array(
            [[mid - tw, y0], [mid + tw, y0], [mid + tw + dx, y0 + dy], [mid - tw + dx, y0 + dy]]
        )
        target.poly(ident.px(tape), _jitter(rng, (200, 170, 120), 10), 170)
    target.poly(ident.px(face), plan.tint)
    target.poly(ident.px(side), dark)
    for poly in (face, side):
        target.cover.polygon(ident.px(poly), fill=255)
    target.line(ident.px(np.array([[x0, y0], [x1, y0]])), dark, 1.0, 170)
    # print on the box: arrows, a shipping label with a barcode, a carrier mark
    ink = _jitter(rng, (45, 40, 35), 8)
    if rng.random() < 0.6:
        lx = rng.uniform(x0 + 0.1 * plan.hw, x1 - 0.8 * plan.hw)
        ly = rng.uniform(y0 + 0.15 * plan.hh, y1 - 0.6 * plan.hh)
        _label(
            target,
            ident,
            rng,
            lx,
            ly,
            lx + 0.7 * plan.hw,
            ly + 0.45 * plan.hh,
            _jitter(rng, (240, 238, 232), 6),
        )
    if rng.random() < 0.6:
        ax = rng.uniform(x0 + 0.15 * plan.hw, x1 - 0.3 * plan.hw)
        ay = y0 + 0.15 * plan.hh
        for k in range(2):
            xx = ax + k * 0.12 * plan.hw
            target.line(ident.px(np.array([[xx, ay + 0.2 * plan.hh], [xx, ay]])), ink, 1.5, 200)
            target.poly(
                ident.px(np.array([[xx - 4, ay + 4], [xx, ay - 2], [xx + 4, ay + 4]])), ink, 200
            )
    return back, front


# --------------------------------------------------------------------------- damage


@dataclass
class _DamageSite:
    """Where damage may go: visible, well-inside pixels and edge pixels of one object."""

    inner: NDArray[np.bool_]
    edge: NDArray[np.bool_]
    scale: float  # the object's size in pixels (half extent)
    cx: float  # the object's centre (pixels), to aim edge damage inwards
    cy: float

    def inward(self, p: tuple[float, float]) -> float:
        """Direction (radians) from ``p`` towards the object's centre."""
        return math.atan2(self.cy - p[1], self.cx - p[0])


def _site(mask: F32, bevel: F32, scale: float, cx: float, cy: float) -> _DamageSite:
    return _DamageSite(
        inner=(mask > 0.99) & (bevel > 0.9),
        edge=(mask > 0.5) & (bevel < 0.75),
        scale=scale,
        cx=cx,
        cy=cy,
    )


def _inside_fraction(pts: list[tuple[float, float]], site: _DamageSite) -> float:
    """Share of supersampled polyline points that fall on the item."""
    region = site.inner | site.edge
    n = region.shape[0]
    xy = np.clip((np.asarray(pts) / _SS).astype(int), 0, n - 1)
    return float(region[xy[:, 1], xy[:, 0]].mean())


def _walk(
    rng: np.random.Generator,
    x: float,
    y: float,
    theta: float,
    length: float,
    step: float,
    wiggle: float,
    jag: float = 0.0,
) -> list[tuple[float, float]]:
    """A polyline (supersampled pixels) from (x, y) heading ``theta``: the heading drifts by
    ``wiggle`` per step (curvature) and each step deviates by ``jag`` (zig-zag)."""
    n = max(2, int(length / step))
    thetas = theta + np.cumsum(rng.normal(0.0, wiggle, n)) + rng.normal(0.0, jag, n)
    steps = step * rng.uniform(0.6, 1.4, n)
    xs = x + np.concatenate([[0.0], np.cumsum(steps * np.cos(thetas))])
    ys = y + np.concatenate([[0.0], np.cumsum(steps * np.sin(thetas))])
    return list(zip((xs * _SS).tolist(), (ys * _SS).tolist(), strict=True))


def _draw_scratches(
    rng: np.random.Generator,
    layer: _Layer,
    dmg: ImageDraw.ImageDraw,
    site: _DamageSite,
    base: RGB,
    sev: float,
) -> None:
    """Swipes of near-parallel thin strokes, and scuffed patches of short faint streaks.

    Severity sets how many, how long and how contrasted; even the mildest is a visible swipe.
    """
    n_groups = 1 + round(rng.uniform(0.5, 1.0) * 4 * sev)
    lum = _luma(base)  # exposed material shows bright on dark goods, grime dark on light ones
    bright = lum < 80 or (lum < 170 and rng.random() < 0.6)
    for p in _sample_points(rng, site.inner, n_groups):
        theta = rng.uniform(0, math.pi * 2)
        n = 3 + int(rng.integers(0, 2 + round(6 * sev)))
        length = site.scale * rng.uniform(0.6, 1.1) * (0.8 + 0.6 * sev)
        spread = 3.0 + 8.0 * sev
        nx, ny = -math.sin(theta), math.cos(theta)
        tx, ty = math.cos(theta), math.sin(theta)
        for _ in range(n):
            o = rng.normal(0.0, spread)
            run = length * rng.uniform(0.4, 1.0)
            a = rng.normal(0.0, length * 0.1) - run / 2  # strokes are centred on the site
            pts = _walk(
                rng,
                p[0] + o * nx + a * tx,
                p[1] + o * ny + a * ty,
                theta + rng.normal(0, 0.05),
                run,
                4.0,
                0.03,
            )
            col = _jitter(rng, (228, 226, 220) if bright else (38, 36, 34), 10)
            alpha = int(np.clip(rng.uniform(110, 150) + 110 * sev, 0, 255))
            width = 1.0 if rng.random() < 0.75 - 0.4 * sev else 1.5
            layer.line(pts, col, width, alpha, relief=116)
            dmg.line(pts, fill=255, width=round(width * _SS) + 2)
    if rng.random() < 0.4 + 0.5 * sev:  # scuffed patch: many short faint streaks
        for p in _sample_points(rng, site.inner, 1 + int(rng.random() < sev)):
            theta = rng.uniform(0, math.pi * 2)
            r = site.scale * rng.uniform(0.15, 0.25) * (0.8 + 0.6 * sev)
            n = int(20 + 40 * sev)
            q = rng.normal(0, r / 2.2, (n, 2))
            th = theta + rng.normal(0, 0.2, n)
            ln = rng.uniform(0.2, 0.6, n) * r
            ends = (
                np.stack(
                    [
                        p[0] + q[:, 0],
                        p[1] + q[:, 1],
                        p[0] + q[:, 0] + ln * np.cos(th),
                        p[1] + q[:, 1] + ln * np.sin(th),
                    ],
                    axis=1,
                )
                * _SS
            )
            grey = np.clip((205.0 if bright else 65.0) + rng.normal(0, 15, n), 0, 255)
            alphas = (rng.uniform(50, 100, n) + 90 * sev).astype(int)
            for (ax, ay, bx, by), g, al in zip(
                ends.tolist(), grey.tolist(), alphas.tolist(), strict=True
            ):
                seg = [(ax, ay), (bx, by)]
                layer.paint.line(seg, fill=(int(g), int(g), int(g * 0.97), al), width=_SS)
                dmg.line(seg, fill=255, width=_SS + 2)


def _draw_cracks(
    rng: np.random.Generator,
    layer: _Layer,
    dmg: ImageDraw.ImageDraw,
    site: _DamageSite,
    base: RGB,
    sev: float,
) -> None:
    """Jagged dark branching cracks; at high severity also a chunk broken off an edge."""
    if _luma(base) > 60:
        dark = _jitter(rng, _scale_rgb(base, 0.1), 4)
    else:  # dark plastic cracks show stress-whitened edges rather than a dark gap
        dark = _jitter(rng, (150, 150, 150), 12)
    light = (min(255, base[0] + 90), min(255, base[1] + 90), min(255, base[2] + 90))
    n_cracks = 1 + int(rng.random() < 0.8 * sev) + int(rng.random() < 0.4 * sev)
    from_edge = rng.random() < 0.6
    starts = _sample_points(rng, site.edge if from_edge else site.inner, n_cracks)
    if sev > 0.5 and rng.random() < 0.3 + 1.2 * (sev - 0.5):  # a chunk broken off
        for p in _sample_points(rng, site.edge, 1):
            r = site.scale * rng.uniform(0.15, 0.28) * (0.6 + sev)
            chunk = _jagged_pts(
                rng, p[0] * _SS, p[1] * _SS, r * _SS, int(rng.integers(9, 15)), 0.55
            )
            layer.line([*chunk, chunk[0]], _scale_rgb(base, 0.5), 3.0, 255, relief=70)
            layer.cover.polygon(chunk, fill=0)
            dmg.polygon(chunk, fill=255)
            dmg.line([*chunk, chunk[0]], fill=255, width=4 * _SS)
            starts = [p, *starts[1:]]
            from_edge = True
    alpha = int(170 + 80 * sev)
    for p in starts:
        length = site.scale * rng.uniform(0.7, 1.1) * (0.75 + 0.8 * sev)
        # from an edge a crack runs inwards; from an impact point it radiates (a spider web)
        arms = 1 if from_edge else 2 + round(rng.uniform(0, 3) * sev)
        theta0 = site.inward(p) if from_edge else rng.uniform(0, 2 * math.pi)
        for a in range(arms):
            theta = theta0 + a * 2 * math.pi / arms + rng.normal(0, 0.4)
            trunk = _walk(rng, p[0], p[1], theta, length * rng.uniform(0.6, 1.0), 5.0, 0.08, 0.55)
            if _inside_fraction(trunk, site) < 0.6:  # ran off the item: turn it round
                trunk = _walk(
                    rng,
                    p[0],
                    p[1],
                    theta + math.pi,
                    length * rng.uniform(0.6, 1.0),
                    5.0,
                    0.08,
                    0.55,
                )
            branches = [trunk]
            for _ in range(int(rng.integers(1, 2 + round(3 * sev)))):
                bx, by = trunk[int(rng.integers(1, len(trunk)))]
                turn = (1 if rng.random() < 0.5 else -1) * rng.uniform(0.5, 1.2)
                branches.append(
                    _walk(
                        rng,
                        bx / _SS,
                        by / _SS,
                        theta + turn,
                        length * rng.uniform(0.2, 0.45),
                        4.0,
                        0.12,
                        0.55,
                    )
                )
            for i, pts in enumerate(branches):
                w = (1.5 + 1.0 * sev) if i == 0 else 1.0 + 0.5 * sev
                shifted = [(x + _SS, y + _SS) for x, y in pts]
                layer.line(shifted, light, 1.0, 120)
                layer.line(pts, dark, w, alpha, relief=40)
                dmg.line(pts, fill=255, width=round(w * _SS) + 3)


@dataclass(frozen=True)
class _Dent:
    x: float
    y: float
    sigma: float  # across the dent, pixels
    elong: float  # length / width
    angle: float
    depth: float  # pixels
    bite: float  # 0 = silhouette intact, up to 1 = edge pushed in


def _plan_dents(rng: np.random.Generator, site: _DamageSite, sev: float) -> list[_Dent]:
    near_edge = rng.random() < 0.35 + 0.35 * sev
    n = 1 + int(rng.random() < 0.4 + 0.5 * sev) + int(rng.random() < 0.5 * sev)
    dents = []
    for i, p in enumerate(_sample_points(rng, site.edge if near_edge else site.inner, n)):
        sig = site.scale * rng.uniform(0.16, 0.26) * (0.9 + 0.5 * sev) * (1.0 if i == 0 else 0.75)
        bite = min(1.0, max(0.0, (sev - 0.3) * 2.0)) if near_edge and i == 0 else 0.0
        dents.append(
            _Dent(
                p[0],
                p[1],
                sig,
                rng.uniform(1.0, 2.2),
                rng.uniform(0, math.pi),
                sig * (0.6 + 1.4 * sev) * rng.uniform(0.85, 1.15),
                bite,
            )
        )
    return dents


def _draw_dent_creases(
    rng: np.random.Generator, layer: _Layer, dents: list[_Dent], base: RGB, sev: float
) -> None:
    """Folded material at the bottom of a dent shows as a dark/bright crease pair."""
    dark = _scale_rgb(base, 0.45)
    light = (min(255, base[0] + 60), min(255, base[1] + 60), min(255, base[2] + 60))
    for d in dents:
        if rng.random() > 0.25 + 0.7 * sev:
            continue
        for _ in range(1 + int(rng.random() < sev)):
            half = d.sigma * d.elong * rng.uniform(0.5, 0.9)
            ca, sa = math.cos(d.angle), math.sin(d.angle)
            o = rng.normal(0, d.sigma * 0.25)
            x0 = d.x - half * ca - o * sa
            y0 = d.y - half * sa + o * ca
            pts = _walk(rng, x0, y0, d.angle, 2 * half, 4.0, 0.06, 0.2)
            layer.line(pts, dark, 1.0 + sev, int(120 + 100 * sev), relief=80)
            layer.line([(x + _SS, y + _SS) for x, y in pts], light, 1.0, int(80 + 80 * sev))


def _dent_height(dents: list[_Dent], size: int, dmg: NDArray[np.bool_]) -> tuple[F32, F32 | None]:
    """Height change of the dents (negative = pushed in) and an optional silhouette bite."""
    xs, ys = _grid(size)
    h = np.zeros((size, size), np.float32)
    bite: F32 | None = None
    for d in dents:
        dx, dy = xs - np.float32(d.x), ys - np.float32(d.y)
        ca, sa = np.float32(math.cos(d.angle)), np.float32(math.sin(d.angle))
        d1 = (dx * ca + dy * sa) / np.float32(d.sigma * d.elong)
        d2 = (dy * ca - dx * sa) / np.float32(d.sigma)
        r2 = d1 * d1 + d2 * d2
        # a bowl with a slightly raised lip where the material was pushed aside
        h -= np.float32(d.depth) * (np.exp(-r2 * r2) - np.float32(0.2) * np.exp(-r2 / 3.0))
        dmg |= r2 < 1.5
        if d.bite > 0:
            # the edge is pushed in by part of the dent, the rest of the bowl stays visible
            b = np.clip((np.float32(0.45 * d.bite + 0.15) - np.sqrt(r2)) * np.float32(3.0), 0, 1)
            bite = b if bite is None else np.maximum(bite, b)
    return h, bite


_STAINS: dict[str, RGB] = {
    "coffee": (105, 62, 30),
    "oil": (45, 38, 25),
    "rust": (150, 72, 30),
    "ink": (40, 50, 125),
    "grease": (175, 150, 60),
    "mud": (95, 78, 55),
    "wine": (110, 25, 45),
}
_GLOSSY_STAINS = ("oil", "grease", "coffee", "wine")


def _stain(
    rng: np.random.Generator,
    arr: _Arrays,
    site: _DamageSite,
    size: int,
    sev: float,
    dmg: NDArray[np.bool_],
) -> None:
    """Irregular translucent blotches with a tide mark, drips and splatter (in place)."""
    solid = arr.mask[::4, ::4] > 0.9  # a sparse sample is enough for the mean colour
    base = arr.albedo[:, ::4, ::4][:, solid].mean(axis=1) if np.any(solid) else np.zeros(3)
    lum = _luma(base.tolist())
    n_blobs = 1 + int(rng.random() < 0.3 + 0.5 * sev) + int(rng.random() < 0.4 * sev)
    for p in _sample_points(rng, site.inner, n_blobs):
        kind = _choose(rng, tuple(_STAINS))
        r = site.scale * rng.uniform(0.22, 0.35) * (0.8 + 0.8 * sev)
        # work in a window around the blot: drips run down, so it reaches further below
        x0, x1 = max(0, int(p[0] - 2.2 * r - 6)), min(size, int(p[0] + 2.2 * r + 7))
        y0, y1 = max(0, int(p[1] - 2.2 * r - 6)), min(size, int(p[1] + 3.0 * r + 7))
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        cx, cy = p[0] - x0, p[1] - y0
        blob_img = Image.new("L", (x1 - x0, y1 - y0), 0)
        d = ImageDraw.Draw(blob_img)
        for _ in range(int(rng.integers(6, 14))):  # overlapping ellipses, melted by the blur
            o = rng.normal(0, r * 0.4, 2)
            rr = r * rng.uniform(0.2, 0.5) * np.array([rng.uniform(0.7, 1.3), 1.0])
            d.ellipse(
                [cx + o[0] - rr[0], cy + o[1] - rr[1], cx + o[0] + rr[0], cy + o[1] + rr[1]],
                fill=255,
            )
        if rng.random() < 0.6:  # drips run down the image (gravity)
            for _ in range(int(rng.integers(1, 4))):
                x = cx + rng.normal(0, r * 0.4)
                d.line(
                    [(x, cy), (x + rng.normal(0, 3), cy + r * rng.uniform(0.8, 2.0))],
                    fill=255,
                    width=int(rng.integers(2, 5)),
                )
        for _ in range(int(rng.integers(0, 8))):  # splatter
            o = rng.normal(0, r * 1.1, 2)
            s = rng.uniform(1, 3)
            d.ellipse([cx + o[0] - s, cy + o[1] - s, cx + o[0] + s, cy + o[1] + s], fill=255)
        win = (slice(y0, y1), slice(x0, x1))
        mask = arr.mask[win]
        melt = _to_f32(_blur_l(blob_img, max(2.0, r * 0.25))) * np.float32(1 / 255)
        tex = _smooth_noise(rng, size, 24, 24)[win]
        # an irregular liquid outline: threshold the melted blot, perturbed by noise
        blob = np.clip((melt - 0.45 + 0.5 * (tex - 0.5)) * np.float32(4.0), 0, 1)
        small = _to_f32(_blur_l(blob_img, 1.0)) * np.float32(1 / 255)
        blob = np.maximum(blob, small * (melt < 0.2))  # splatter and drips keep their shapes
        blob *= mask
        opacity = np.float32(0.35 + 0.5 * sev)
        a = blob * opacity * (np.float32(0.7) + np.float32(0.5) * tex)
        ring = np.clip(blob - _to_f32(_blur_l(blob_img, 4.0)) * np.float32(1 / 255), 0, 1)
        a = np.clip(a + ring * np.float32(rng.uniform(0.4, 1.0)) * opacity, 0, 1) * mask
        if lum < 70:  # on dark goods a dried liquid shows as a pale residue
            col = np.array((200, 195, 182), np.float32)
            a *= np.float32(0.65)
        else:
            col = np.array(_STAINS[kind], np.float32)
        col *= np.float32(rng.uniform(0.85, 1.15))
        alb = arr.albedo[:, y0:y1, x0:x1]
        alb += (col[:, None, None] - alb) * a
        if kind in _GLOSSY_STAINS:
            if arr.sheen is None:
                arr.sheen = np.zeros((size, size), np.float32)
            np.maximum(arr.sheen[win], blob * np.float32(0.6), out=arr.sheen[win])
        dmg[win] |= a > 0.08


def _box_damage(
    rng: np.random.Generator,
    back: _Layer,
    front: _Layer,
    plan: _BoxPlan,
    visible: NDArray[np.bool_],
    dmg: ImageDraw.ImageDraw,
    sev: float,
) -> list[tuple[float, float, float]]:
    """Crush corners, tear and crease the box; returns dents (x, y, radius) to apply later."""
    target = front if plan.mode == "inside" else back
    dents: list[tuple[float, float, float]] = []
    x0, x1 = plan.cx - plan.hw, plan.cx + plan.hw
    y0 = plan.cy - plan.hh
    dark = _scale_rgb(plan.tint, 0.4)
    light = _scale_rgb(plan.tint, 1.3)
    side = min(plan.hw, plan.hh)
    n = 1 + round(rng.uniform(0.3, 1.0) * 2 * sev)
    kinds = [("crush", "tear", "dent")[int(i)] for i in rng.integers(0, 3, n)]
    size = target.size
    y1 = plan.cy + plan.hh

    def in_view(x: float, y: float) -> bool:
        """A corner can be crushed visibly if it is in frame and not hidden by the product."""
        ix = int(x + (6 if x == x0 else -6))
        iy = int(y + (6 if y == y0 else -6))
        return 0 <= ix < size and 0 <= iy < size and bool(visible[iy, ix])

    corners = [
        (x, y)
        for x in (x0, x1)
        for y in (y0, y1)
        if (plan.mode == "behind" or y == y0) and in_view(x, y)
    ]
    for kind in kinds:
        if kind == "crush" and corners:  # a corner pushed in: cut silhouette, crumpled zone
            cx, cy = corners[int(rng.integers(len(corners)))]
            r = side * rng.uniform(0.35, 0.55) * (0.7 + 0.6 * sev)
            sx = 1 if cx == x0 else -1
            sy = 1 if cy == y0 else -1
            ext = 0.4 * r + 8  # reach over the top / side faces drawn beyond the front face
            cut = [
                (cx - sx * ext, cy - sy * ext),
                (cx + sx * r * rng.uniform(0.6, 1.0), cy - sy * ext),
            ]
            for t in np.linspace(0.15, 0.85, 5):
                jit = rng.uniform(-0.15, 0.15) * r
                cut.append((cx + sx * r * (1 - t) * 0.6 + jit, cy + sy * r * t * 0.6 - jit))
            cut.append((cx - sx * ext, cy + sy * r * rng.uniform(0.6, 1.0)))
            cut_px = [(x * _SS, y * _SS) for x, y in cut]
            zone = [
                cut_px[1],
                *cut_px[2:-1],
                cut_px[-1],
                ((cx + sx * r * 1.1) * _SS, (cy + sy * r * 1.1) * _SS),
            ]
            target.poly(zone, dark, int(70 + 60 * sev), relief=100)
            dmg.polygon(zone, fill=255)
            for layer in (back, front):
                layer.cover.polygon(cut_px, fill=0)
            for _ in range(int(4 + 6 * sev)):
                t = rng.uniform(0.1, 0.9)
                px = cx + sx * r * (1 - t) * 0.6
                py = cy + sy * r * t * 0.6
                pts = _walk(
                    rng,
                    px,
                    py,
                    math.atan2(sy, sx) + rng.normal(0, 0.5),
                    r * rng.uniform(0.4, 0.9),
                    4.0,
                    0.15,
                    0.4,
                )
                target.line(pts, dark, 1.5 + sev, 220, relief=70)
                target.line([(x + _SS, y) for x, y in pts], light, 1.0, 170, relief=175)
                dmg.line(pts, fill=255, width=4 * _SS)
            dents.append((cx + sx * r * 0.7, cy + sy * r * 0.7, r * 0.6))
        elif kind in ("tear", "crush"):  # a torn hole showing the corrugated core, a loose flap
            pts_ = _sample_points(rng, visible, 1)
            if not pts_:
                continue
            p = pts_[0]
            r = side * rng.uniform(0.2, 0.35) * (0.7 + 0.7 * sev)
            hole = _jagged_pts(rng, p[0] * _SS, p[1] * _SS, r * _SS, int(rng.integers(10, 18)), 0.6)
            core = Image.new("RGB", target.albedo.size, _jitter(rng, (200, 172, 128), 8))
            cd = ImageDraw.Draw(core)
            step = rng.uniform(3.0, 4.5) * _SS
            for k in np.arange((p[0] - r) * _SS, (p[0] + r) * _SS, step):
                cd.line(
                    [(k, (p[1] - r) * _SS), (k, (p[1] + r) * _SS)],
                    fill=_scale_rgb(plan.tint, 0.6),
                    width=_SS,
                )
            hole_mask = Image.new("L", target.albedo.size, 0)
            ImageDraw.Draw(hole_mask).polygon(hole, fill=255)
            target.albedo.paste(core, mask=hole_mask)
            target.bump.polygon(hole, fill=90)
            target.line([(x, y - 1.5 * _SS) for x, y in hole[: len(hole) // 2]], dark, 2.0, 200)
            target.line([*hole, hole[0]], _jitter(rng, (232, 215, 185), 8), 1.5, 240)
            flap = [
                hole[0],
                hole[len(hole) // 3],
                (
                    (p[0] + r * rng.uniform(-1.2, 1.2)) * _SS,
                    (p[1] + r * rng.uniform(0.9, 1.7)) * _SS,
                ),
            ]
            target.poly(flap, _scale_rgb(plan.tint, 1.12), relief=150)
            target.line([*flap, flap[0]], dark, 1.0, 150)
            target.cover.polygon(flap, fill=255)
            dmg.polygon(hole, fill=255)
            dmg.polygon(flap, fill=255)
        else:  # a face caved in, with crease lines across it
            pts_ = _sample_points(rng, visible, 1)
            if not pts_:
                continue
            p = pts_[0]
            r = side * rng.uniform(0.25, 0.4) * (0.7 + 0.7 * sev)
            dents.append((p[0], p[1], r))
            for _ in range(1 + int(rng.random() < 0.3 + 0.6 * sev)):
                crease = _walk(
                    rng,
                    p[0] - r,
                    p[1] + rng.normal(0, r / 3),
                    rng.normal(0, 0.5),
                    2 * r,
                    5.0,
                    0.1,
                    0.3,
                )
                target.line(crease, dark, 1.5 + sev, 210, relief=70)
                target.line([(x, y + _SS) for x, y in crease], light, 1.0, 160)
                dmg.line(crease, fill=255, width=4 * _SS)
    return dents


# --------------------------------------------------------------------------- shading


@dataclass(frozen=True)
class _Light:
    lx: float
    ly: float
    lz: float
    ambient: float
    diffuse: float


def _shade_into(img: F32, arr: _Arrays, light: _Light, size: int) -> None:
    """Light ``arr`` (Lambert diffuse + Blinn specular of its height field) and blend it
    over ``img`` by its mask; only the object's bounding box is computed."""
    box = _bbox(arr.mask)
    if box is None:
        return
    rows, cols = box
    gy, gx = np.gradient(arr.height[box])  # surface normal = (-gx, -gy, 1) / |.|
    inv = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    diff = np.clip((light.lz - gx * light.lx - gy * light.ly) * inv, 0, 1)
    shade = np.float32(light.ambient) + np.float32(light.diffuse) * diff
    lit = arr.albedo[:, rows, cols] * shade
    sheen = arr.sheen[box] if arr.sheen is not None else None
    if arr.gloss > 0.06 or sheen is not None:
        view = _view_xy(size)
        hx = (view[cols] + np.float32(light.lx))[None, :]
        hy = (view[rows] + np.float32(light.ly))[:, None]
        hz = np.float32(1.0 + light.lz)
        hn = 1.0 / np.sqrt(hx * hx + hy * hy + hz * hz)
        spec = np.clip((hz - gx * hx - gy * hy) * (inv * hn), 0, 1)
        shin = arr.shininess
        while shin > 1:
            spec = spec * spec
            shin //= 2
        weight = np.float32(255 * arr.gloss) * spec
        if sheen is not None:
            weight += np.float32(255 * 0.9) * spec * spec * sheen
        lit += weight
    # blend in place: img = img * (1 - m) + lit * m
    m = arr.mask[box]
    sub = img[:, rows, cols]
    sub *= 1.0 - m
    lit *= m
    sub += lit


# --------------------------------------------------------------------------- render


def render_photo_with_masks(spec: PhotoSpec, size: int = 256) -> PhotoRender:
    """Render ``spec`` and return the photo with its product, packaging and damage masks."""
    seed = spec.seed & 0xFFFF_FFFF_FFFF_FFFF
    rs = np.random.default_rng([seed, _STREAM_SCENE])
    rd = np.random.default_rng([seed, _STREAM_DAMAGE])
    rb = np.random.default_rng([seed, _STREAM_BOX])
    rc = np.random.default_rng([seed, _STREAM_CAMERA])
    # even the mildest damage must be visible at 256 px: severity 0 maps to a small but clear
    # mark, severity 1 to the worst case
    sev = 0.15 + 0.85 * float(spec.severity)
    dtype = DamageType(spec.damage_type)

    # ---- scene: background, light, packaging decision, pose
    bg = _background(rs, size)
    az = rs.uniform(0, 2 * math.pi)
    el = rs.uniform(math.radians(35), math.radians(70))
    light = _Light(
        math.cos(az) * math.cos(el),
        math.sin(az) * math.cos(el),
        math.sin(el),
        rs.uniform(0.3, 0.45),
        rs.uniform(0.55, 0.8),
    )
    # draw before deciding so the scene stream stays aligned across damage types
    shows_box = rs.random() < _PACKAGING_SHOWN_RATE or dtype == DamageType.PACKAGING_ONLY
    ext_frac = rs.uniform(0.34, 0.46) * (0.8 if shows_box else 1.0)
    ext = ext_frac * size
    scale = ext / _EXTENT[spec.shape]
    angle = rs.uniform(-0.7, 0.7)
    if spec.shape in ("cylinder", "bottle") and rs.random() < 0.25:
        angle += math.pi / 2  # lying on its side
    pcx = size / 2 + rs.uniform(-0.12, 0.12) * size
    pcy = size / 2 + rs.uniform(-0.1, 0.1) * size
    plan = _plan_box(rb, size, pcx, pcy, ext)
    if shows_box:
        if plan.mode == "inside":
            pcy -= 0.12 * size
            angle = angle * 0.3
            plan = _BoxPlan(
                plan.mode,
                plan.cx,
                plan.cy - 0.12 * size,
                plan.hw,
                plan.hh,
                plan.dx,
                plan.dy,
                plan.tint,
            )
        else:  # make room for the box beside the product
            shift = -0.12 * size * np.sign(plan.cx - pcx)
            pcx += shift
            plan = _BoxPlan(
                plan.mode,
                plan.cx + shift,
                plan.cy + 0.08 * size,
                plan.hw,
                plan.hh,
                plan.dx,
                plan.dy,
                plan.tint,
            )
            pcy += 0.08 * size
    pose = _Pose(pcx, pcy, scale, angle)
    if rs.random() < _CLOSE_UP_RATE:  # a close-up: the photographer zooms in on part of the item
        z = rs.uniform(1.3, 1.9)
        ax, ay = (c / _SS for c in pose.px(rs.uniform(-0.5, 0.5, (1, 2)))[0])
        if shows_box:  # frame both the item and its box
            z = 1.0 + (z - 1.0) * 0.4
            t = rs.uniform(0.3, 0.7)
            ax, ay = ax + t * (plan.cx - ax), ay + t * (plan.cy - plan.hh * 0.5 - ay)
        tx, ty = size * (0.5 + rs.uniform(-0.08, 0.08, 2))
        pose = _Pose(tx + z * (pcx - ax), ty + z * (pcy - ay), scale * z, angle)
        plan = _BoxPlan(
            plan.mode,
            tx + z * (plan.cx - ax),
            ty + z * (plan.cy - ay),
            plan.hw * z,
            plan.hh * z,
            plan.dx * z,
            plan.dy * z,
            plan.tint,
        )
        ext, scale = ext * z, scale * z

    # ---- product
    layer = _Layer(size, spec.color)
    product = _BUILDERS[spec.shape](rs, layer, pose, spec.color)
    gloss, shininess, bevel_h = _MATERIALS[product.material]
    gloss *= rs.uniform(0.6, 1.3)

    # ---- packaging
    back: _Layer | None = None
    front: _Layer | None = None
    if shows_box:
        back, front = _box_layers(rb, plan, size)

    # ---- damage drawn with vector strokes (before reduction to 1x)
    dmg_img = Image.new("L", (size * _SS, size * _SS), 0)
    dmg_draw = ImageDraw.Draw(dmg_img)
    pmask_img = _reduce(layer.mask)
    pmask_pre = _to_f32(pmask_img) * np.float32(1 / 255)
    occluder = (
        _to_f32(_reduce(front.mask)) * np.float32(1 / 255)
        if front is not None
        else np.zeros((size, size), np.float32)
    )
    pbevel = _to_f32(_blur_l(pmask_img, max(2.0, 0.05 * scale))) * np.float32(1 / 255)
    psite = _site(pmask_pre * (1 - occluder), pbevel, ext, pose.cx, pose.cy)
    psite = _DamageSite(
        psite.inner & (occluder < 0.01), psite.edge & (occluder < 0.01), ext, pose.cx, pose.cy
    )
    if dtype == DamageType.SCRATCH_SCUFF:
        _draw_scratches(rd, layer, dmg_draw, psite, spec.color, sev)
    elif dtype == DamageType.CRACK_BREAK:
        _draw_cracks(rd, layer, dmg_draw, psite, spec.color, sev)
    dents: list[_Dent] = []
    if dtype == DamageType.DENT_DEFORMATION:
        dents = _plan_dents(rd, psite, sev)
        _draw_dent_creases(rd, layer, dents, spec.color, sev)
    box_dents: list[tuple[float, float, float]] = []
    if dtype == DamageType.PACKAGING_ONLY and back is not None and front is not None:
        tgt = front if plan.mode == "inside" else back
        vis = (_to_f32(_reduce(tgt.mask)) > 250) & (
            (pmask_pre < 0.01) if plan.mode == "behind" else np.ones_like(pmask_pre, bool)
        )
        box_dents = _box_damage(rd, back, front, plan, vis, dmg_draw, sev)

    # ---- to arrays, numpy-side damage
    bevel_px = max(2.0, 0.05 * scale)
    reuse = pbevel if dtype != DamageType.CRACK_BREAK else None  # a broken chunk moves edges
    prod = _to_arrays(
        layer, bevel_px, bevel_h * scale / 60, 3.0, reuse, pmask_img if reuse is not None else None
    )
    prod.gloss, prod.shininess = gloss, shininess
    pbox = _bbox(pmask_pre) or (slice(0, size), slice(0, size))
    pm = prod.mask[pbox]
    u, v = (
        (a[pbox] for a in pose.local(size))
        if product.profile == "cylinder" or (product.material == "fabric")
        else (pm, pm)
    )
    if product.profile == "cylinder":
        prof = np.sqrt(np.clip(1.0 - (u / np.float32(0.55)) ** 2, 0.0, 1.0))
        prod.height[pbox] += prof * np.float32(scale * 0.5) * pm
    elif product.profile == "folds":
        folds = _smooth_noise(rs, size, 4, 7)[pbox]
        prod.height[pbox] += folds * np.float32(scale * 0.45) * pm
    tex_fine = rs.random(pm.shape, dtype=np.float32) - np.float32(0.5)
    if product.material == "fabric":
        f = np.float32(rs.uniform(1.5, 2.5) * scale)
        weave = np.sin(u * f) * np.sin(v * f)
        tex = 1.0 + 0.08 * weave + 0.06 * tex_fine
    elif product.material == "metal":
        cells = (2, 64) if abs(math.cos(angle)) > 0.7 else (64, 2)
        brushed = _smooth_noise(rs, size, *cells)[pbox]
        tex = 1.0 + 0.1 * (brushed - 0.5) + 0.04 * tex_fine
    else:
        tex = 1.0 + 0.03 * tex_fine
    if rs.random() < 0.2:  # distractor: soft shadow of something off-frame across the item
        xs, ys = (a[pbox] for a in _grid(size))
        sx, sy = rs.uniform(0, size, 2)
        r = rs.uniform(0.3, 0.6) * size
        sh = np.exp(
            -(((xs - np.float32(sx)) ** 2 + (ys - np.float32(sy)) ** 2) / np.float32(r * r))
        )
        tex = tex * (1.0 - np.float32(rs.uniform(0.1, 0.25)) * sh)
    prod.albedo[:, pbox[0], pbox[1]] *= tex

    dmg_mask = np.zeros((size, size), bool)
    if dents:
        dh, bite = _dent_height(dents, size, dmg_mask)
        prod.height += dh * prod.mask
        if bite is not None:
            prod.mask = prod.mask * (1.0 - bite)
        if sev > 0.4:  # paint crinkle in the deepest part
            crinkle = np.clip(-dh / (np.abs(dh).max() + 1e-6) - 0.5, 0, 1)
            prod.albedo *= 1.0 - 0.3 * crinkle * (_smooth_noise(rd, size, 40, 40) > 0.6)
    elif dtype == DamageType.STAIN_CONTAMINATION:
        _stain(rd, prod, psite, size, sev, dmg_mask)

    box_arrays: list[tuple[_Arrays, str]] = []
    if back is not None and front is not None:
        flutes = _smooth_noise(rb, size, 48, 48)
        for lay, which in ((back, "back"), (front, "front")):
            if lay.mask.getbbox() is None:
                continue
            ba = _to_arrays(lay, 0.0, 0.0, 3.0)
            ba.gloss, ba.shininess = 0.05, 4
            ba.albedo *= 0.96 + 0.08 * flutes
            for dx_, dy_, r_ in box_dents:
                xs, ys = _grid(size)
                dsq = ((xs - np.float32(dx_)) ** 2 + (ys - np.float32(dy_)) ** 2) / np.float32(
                    r_ * r_
                )
                ba.height -= np.float32(r_ * (0.6 + 1.0 * sev)) * np.exp(-dsq) * ba.mask
                dmg_mask |= (dsq < 1.0) & (ba.mask > 0.5)
            box_arrays.append((ba, which))

    # ---- composite: lit background with cast and contact shadows, then the objects
    xs, ys = _grid(size)
    k0 = light.ambient + light.diffuse * light.lz
    gx_, gy_ = 0.25 * light.lx / size, 0.25 * light.ly / size
    bg_light = (
        xs * np.float32(k0 * gx_)
        + ys * np.float32(k0 * gy_)
        + np.float32(k0 * (1.0 - 0.5 * size * (gx_ + gy_)))
    )
    occ = prod.mask
    for ba, _ in box_arrays:
        occ = np.maximum(occ, ba.mask)
    occ_img = Image.fromarray((occ * 255).astype(np.uint8))
    q = 4  # the soft cast shadow is computed at 1/4 resolution
    lz = max(light.lz, 0.3)
    off = (-light.lx * 0.06 * size / lz / q, -light.ly * 0.06 * size / lz / q)
    small = occ_img.resize((size // q, size // q), Image.Resampling.BOX).transform(
        (size // q, size // q),
        Image.Transform.AFFINE,
        (1, 0, -off[0], 0, 1, -off[1]),
        resample=Image.Resampling.BILINEAR,
    )
    small = small.filter(ImageFilter.GaussianBlur(rs.uniform(0.8, 2.2)))
    soft = _to_f32(small.resize((size, size), Image.Resampling.BILINEAR))
    bg_light -= np.float32(rs.uniform(0.3, 0.55) * k0 / 255) * soft
    img = bg * bg_light

    prod_mask = prod.mask * (1.0 - occluder)
    box_mask = np.zeros((size, size), np.float32)
    for ba, which in box_arrays:
        if which == "back":
            _shade_into(img, ba, light, size)
            box_mask = np.maximum(box_mask, ba.mask * (1.0 - prod.mask))
    _shade_into(img, prod, light, size)
    for ba, which in box_arrays:
        if which == "front":
            _shade_into(img, ba, light, size)
            box_mask = np.maximum(box_mask, ba.mask)

    if dmg_img.getbbox() is not None:
        dmg_mask |= _to_f32(_reduce(dmg_img)) > 32
    if dtype in (
        DamageType.SCRATCH_SCUFF,
        DamageType.CRACK_BREAK,
        DamageType.DENT_DEFORMATION,
        DamageType.STAIN_CONTAMINATION,
    ):
        dmg_mask &= (pmask_pre > 0.3) & (occluder < 0.5)
    elif dtype == DamageType.NONE:
        dmg_mask[:] = False

    # ---- camera: exposure, colour cast, vignette, sensor noise, optional blur (JPEG later)
    expo = rc.uniform(0.7, 1.15)
    temp = rc.uniform(-1, 1)
    cast = np.array([1 + 0.1 * temp, 1 + rc.uniform(-0.03, 0.03), 1 - 0.1 * temp], np.float32)
    vig = np.float32(rc.uniform(0.0, 0.35))
    img *= (1.0 - vig * _radial(size)) * np.float32(expo)
    img *= cast[:, None, None]
    if rc.random() < 0.3:  # slightly out of focus or shaken: a few passes of a 3-tap blur
        for _ in range(int(rc.integers(1, 4))):
            img[:, 1:-1, :] = 0.25 * (img[:, :-2, :] + img[:, 2:, :]) + 0.5 * img[:, 1:-1, :]
            img[:, :, 1:-1] = 0.25 * (img[:, :, :-2] + img[:, :, 2:]) + 0.5 * img[:, :, 1:-1]
    # sensor noise: uniform (cheaper than normal, same spread), partly shared by the channels
    sigma = np.float32(rc.uniform(1.0, 6.0) * math.sqrt(12.0))
    noise = (rc.random((size, size), dtype=np.float32) - np.float32(0.5)) * sigma
    img += noise
    img[0] += np.float32(0.4) * np.roll(noise, 1, axis=0)
    img[2] += np.float32(0.4) * np.roll(noise, 1, axis=1)
    u8 = np.clip(img, 0, 255, out=img).astype(np.uint8)
    out = Image.merge("RGB", [Image.fromarray(c) for c in u8])
    return PhotoRender(
        image=out,
        product_mask=prod_mask.astype(np.float32),
        packaging_mask=box_mask,
        damage_mask=dmg_mask,
    )


def render_photo(spec: PhotoSpec, size: int = 256) -> Image.Image:
    """Render one RGB photo of the item described by ``spec`` (size x size pixels)."""
    return render_photo_with_masks(spec, size).image


def _jpeg_quality(seed: int) -> int:
    rng = np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, _STREAM_CAMERA, 1])
    return int(rng.integers(55, 96))


def render_photo_jpeg(spec: PhotoSpec, size: int = 256) -> bytes:
    """Render ``spec`` and encode it as JPEG with a quality (55-95) drawn from the seed."""
    buf = io.BytesIO()
    render_photo(spec, size).save(buf, format="JPEG", quality=_jpeg_quality(spec.seed))
    return buf.getvalue()


def _write_one(job: tuple[PhotoSpec, str, int]) -> None:
    spec, path, size = job
    Path(path).write_bytes(render_photo_jpeg(spec, size))


def render_photos(
    specs: Sequence[PhotoSpec], paths: Sequence[Path], size: int = 256, workers: int = 2
) -> None:
    """Render each spec to the JPEG file at the matching path (parent folders must exist).

    Uses a process pool when ``workers > 1`` and the batch is large enough to pay for it; the
    bytes written do not depend on ``workers``.
    """
    if len(specs) != len(paths):
        raise ValueError(f"{len(specs)} specs but {len(paths)} paths")
    jobs = [(s, str(p), size) for s, p in zip(specs, paths, strict=True)]
    if workers > 1 and len(jobs) >= _MIN_POOL_BATCH:
        chunk = max(8, len(jobs) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_write_one, jobs, chunksize=chunk):
                pass
        return
    for job in jobs:
        _write_one(job)
