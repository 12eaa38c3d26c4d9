"""Tests of the procedural returned-item photos (training/simulation/photos.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.codes import DamageType
from training.simulation.photos import (
    SHAPES,
    PhotoSpec,
    render_photo,
    render_photo_jpeg,
    render_photo_with_masks,
    render_photos,
)

PRODUCT_DAMAGE = (
    DamageType.SCRATCH_SCUFF,
    DamageType.DENT_DEFORMATION,
    DamageType.CRACK_BREAK,
    DamageType.STAIN_CONTAMINATION,
)
COLORS = ((200, 40, 40), (30, 30, 35), (235, 235, 230), (40, 90, 170), (240, 200, 40))


def _spec(i: int, damage: DamageType, severity: float = 0.6) -> PhotoSpec:
    return PhotoSpec(SHAPES[i % len(SHAPES)], COLORS[i % len(COLORS)], damage, severity, 500 + i)


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


def test_same_spec_gives_identical_bytes() -> None:
    spec = _spec(3, DamageType.CRACK_BREAK)
    assert render_photo_jpeg(spec) == render_photo_jpeg(spec)


def test_different_seeds_give_different_photos() -> None:
    a = PhotoSpec("housing", (200, 40, 40), DamageType.NONE, 0.0, 1)
    b = PhotoSpec("housing", (200, 40, 40), DamageType.NONE, 0.0, 2)
    assert render_photo_jpeg(a) != render_photo_jpeg(b)
    assert np.abs(_pixels(render_photo(a)) - _pixels(render_photo(b))).mean() > 5.0


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_and_damage_type_renders_and_decodes(shape: str) -> None:
    for k, damage in enumerate(DamageType):
        spec = PhotoSpec(shape, COLORS[k % len(COLORS)], damage, 0.7, 40 + k)
        img = render_photo(spec)
        assert img.mode == "RGB"
        assert img.size == (256, 256)
        decoded = Image.open(io.BytesIO(render_photo_jpeg(spec)))
        decoded.load()
        assert decoded.format == "JPEG"
        assert decoded.size == (256, 256)


def test_other_sizes_render() -> None:
    spec = _spec(1, DamageType.STAIN_CONTAMINATION)
    assert render_photo(spec, size=128).size == (128, 128)
    assert render_photo(spec, size=320).size == (320, 320)


@pytest.mark.parametrize("damage", PRODUCT_DAMAGE)
@pytest.mark.parametrize("severity", [0.15, 1.0])
def test_damage_changes_the_product_and_only_the_product(
    damage: DamageType, severity: float
) -> None:
    """Same seed: same scene, so any difference from the NONE photo is the damage itself."""
    diffs = []
    for i in range(7):
        clean = render_photo_with_masks(_spec(i, DamageType.NONE, severity))
        hurt = render_photo_with_masks(_spec(i, damage, severity))
        diff = np.abs(_pixels(clean.image) - _pixels(hurt.image)).mean(axis=2)
        product = clean.product_mask > 0.5
        assert diff[product].mean() > 0.05, f"no visible damage on photo {i}"
        # the scene around the item is untouched: every change lies within a few blocks of the
        # product (a broken-off chunk or a pushed-in edge also moves the item's cast shadow)
        grown = (
            np.asarray(
                Image.fromarray((product | hurt.damage_mask).astype(np.uint8) * 255)
                .resize((8, 8), Image.Resampling.BOX)
                .resize((256, 256), Image.Resampling.NEAREST)
            )
            > 0
        )
        assert diff[~grown].mean() < 0.5
        assert hurt.damage_mask.any()
        diffs.append(diff[product].mean())
    floor = 0.5 if severity < 0.5 else 4.0
    assert np.mean(diffs) > floor


def test_damage_grows_with_severity() -> None:
    for damage in PRODUCT_DAMAGE:
        low: list[float] = []
        high: list[float] = []
        for i in range(5):
            clean = _pixels(render_photo(_spec(i, DamageType.NONE)))
            for sev, out in ((0.15, low), (1.0, high)):
                out.append(
                    float(np.abs(_pixels(render_photo(_spec(i, damage, sev))) - clean).mean())
                )
        assert np.mean(high) > 2 * np.mean(low), damage


def test_packaging_damage_leaves_the_product_clean() -> None:
    checked = 0
    for seed in range(200):
        clean = render_photo_with_masks(
            PhotoSpec("housing", (40, 90, 170), DamageType.NONE, 0.0, seed)
        )
        if not clean.packaging_mask.any():
            continue  # only photos where the intact box is shown too have the same layout
        for severity in (0.15, 1.0):
            hurt = render_photo_with_masks(
                PhotoSpec("housing", (40, 90, 170), DamageType.PACKAGING_ONLY, severity, seed)
            )
            diff = np.abs(_pixels(clean.image) - _pixels(hurt.image)).mean(axis=2)
            assert hurt.damage_mask.any()
            assert diff[hurt.damage_mask].mean() > 4.0
            product_only = (clean.product_mask > 0.99) & (hurt.product_mask > 0.99)
            product_only &= ~hurt.damage_mask & (clean.packaging_mask < 0.01)
            if product_only.sum() > 500:
                assert diff[product_only].mean() < 1.0
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_packaging_alone_does_not_reveal_the_class() -> None:
    shown = dict.fromkeys(DamageType, 0)
    for i in range(24):
        for damage in DamageType:
            spec = PhotoSpec(SHAPES[i % len(SHAPES)], (150, 150, 150), damage, 0.5, 9000 + i)
            shown[damage] += bool(render_photo_with_masks(spec).packaging_mask.any())
    assert shown[DamageType.PACKAGING_ONLY] == 24
    assert 2 <= shown[DamageType.NONE] <= 15  # intact boxes appear on clean items too


def test_none_has_no_damage_mask() -> None:
    for i in range(5):
        assert not render_photo_with_masks(_spec(i, DamageType.NONE)).damage_mask.any()


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        PhotoSpec("teapot", (1, 2, 3), DamageType.NONE, 0.0, 1)
    with pytest.raises(ValueError, match="severity"):
        PhotoSpec("gear", (1, 2, 3), DamageType.NONE, 1.5, 1)
    with pytest.raises(ValueError, match="color"):
        PhotoSpec("gear", (1, 2, 300), DamageType.NONE, 0.5, 1)


def test_render_photos_writes_the_same_bytes_with_a_process_pool(tmp_path: Path) -> None:
    specs = [_spec(i, list(DamageType)[i % 6], 0.5) for i in range(130)]
    paths = [tmp_path / f"{i:03d}.jpg" for i in range(len(specs))]
    render_photos(specs, paths, workers=2)  # large enough to use the pool (other processes)
    for i in (0, 57, 129):
        assert paths[i].read_bytes() == render_photo_jpeg(specs[i])
    few = tmp_path / "few"
    few.mkdir()
    render_photos(specs[:3], [few / "a.jpg", few / "b.jpg", few / "c.jpg"], workers=2)
    assert (few / "b.jpg").read_bytes() == paths[1].read_bytes()
    with pytest.raises(ValueError):
        render_photos(specs[:2], paths[:1])


def _colour_features(img: Image.Image) -> np.ndarray:
    px = np.asarray(img.resize((64, 64)), dtype=np.float32).reshape(-1, 3) / 255.0
    hist = [np.histogram(px[:, c], bins=8, range=(0, 1))[0] / len(px) for c in range(3)]
    return np.concatenate([*hist, px.mean(axis=0), px.std(axis=0)])


def test_colour_statistics_do_not_give_the_damage_type_away() -> None:
    """A linear model on colour histograms must stay far from perfect: the task needs shape
    and texture, not mean colour."""
    rng = np.random.default_rng(0)
    types = list(DamageType)
    xs, ys = [], []
    for i in range(180):
        spec = PhotoSpec(
            SHAPES[int(rng.integers(len(SHAPES)))],
            (int(rng.integers(256)), int(rng.integers(256)), int(rng.integers(256))),
            types[i % len(types)],
            float(rng.uniform(0.15, 1.0)),
            int(rng.integers(1 << 30)),
        )
        xs.append(_colour_features(render_photo(spec)))
        ys.append(i % len(types))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(
        clf, np.array(xs), np.array(ys), cv=StratifiedKFold(5, shuffle=True, random_state=0)
    )
    assert f1_score(ys, pred, average="macro") < 0.6
