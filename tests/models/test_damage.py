"""Damage model: torch vs ONNX tolerance, save/load, serving API, aggregation, invariance."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from features.codes import DamageType
from features.images import ImageRejected, decode_rgb
from models.damage import (
    CLASSES,
    DAMAGED_UNTYPED,
    CaseDamage,
    DamageClassifier,
    PhotoAssessment,
    _grouped_folds,
    aggregate,
)
from models.image_encoder import FEATURE_DIM, ImageEncoder
from training.simulation.photos import SHAPES, PhotoSpec, render_photo, render_photo_jpeg

SIZE = 160  # smaller than production (224) to keep the tests quick; same code path
TYPES = list(DamageType)


def spec(index: int, damage: DamageType) -> PhotoSpec:
    rng = np.random.default_rng(index)
    color = tuple(int(c) for c in rng.integers(40, 220, 3))
    severity = 0.0 if damage is DamageType.NONE else float(rng.uniform(0.6, 1.0))
    return PhotoSpec(SHAPES[index % len(SHAPES)], color, damage, severity, seed=1000 + index)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def photos() -> tuple[list[bytes], list[str]]:
    """180 rendered photos, 30 per damage type (clear, severe damage)."""
    jpegs, labels = [], []
    for index in range(180):
        damage = TYPES[index % len(TYPES)]
        jpegs.append(render_photo_jpeg(spec(index, damage)))
        labels.append(damage.value)
    return jpegs, labels


@pytest.fixture(scope="module")
def fitted(photos: tuple[list[bytes], list[str]]) -> DamageClassifier:
    jpegs, labels = photos
    model = DamageClassifier(image_size=SIZE, num_threads=1)
    return model.fit(jpegs[:150], labels[:150])


def test_onnx_features_equal_torch_within_tolerance(photos: tuple[list[bytes], list[str]]) -> None:
    pixels = decode_rgb(photos[0][:6], SIZE)
    torch_features = ImageEncoder(SIZE, backend="torch", num_threads=1).encode(pixels)
    onnx_features = ImageEncoder(SIZE, backend="onnx", num_threads=1).encode(pixels)
    assert torch_features.shape == (6, FEATURE_DIM)
    scale = np.abs(torch_features).max()
    assert np.abs(torch_features - onnx_features).max() <= 1e-4 * max(1.0, scale)


def test_fitted_model_separates_held_out_photos(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]]
) -> None:
    from sklearn.metrics import roc_auc_score

    jpegs, labels = photos
    proba = fitted.predict_proba(jpegs[150:])
    assert proba.shape == (30, len(CLASSES))
    assert np.allclose(proba.sum(axis=1), 1.0)
    damaged = np.array(labels[150:]) != "NONE"
    assert roc_auc_score(damaged, 1.0 - proba[:, 0]) >= 0.75


def test_save_load_serves_through_onnx_with_equal_outputs(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]], tmp_path: Path
) -> None:
    jpegs = photos[0][150:160]
    torch_model = DamageClassifier(**{**fitted.get_params(), "backend": "torch"})
    torch_model.__dict__.update(
        {k: v for k, v in fitted.__dict__.items() if k.endswith("_") and not k.startswith("_")}
    )
    expected = torch_model.predict_proba(jpegs)
    fitted.save(tmp_path / "damage")
    loaded = DamageClassifier.load(tmp_path / "damage", num_threads=1)
    assert loaded.encoder.backend == "onnx"
    assert np.abs(loaded.predict_proba(jpegs) - expected).max() <= 1e-4


def test_assess_returns_one_assessment_per_photo(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]]
) -> None:
    image = Image.open(io.BytesIO(photos[0][151]))
    assessed = fitted.assess([photos[0][150], image])
    assert len(assessed) == 2 and all(isinstance(a, PhotoAssessment) for a in assessed)
    for a in assessed:
        assert set(a.type_probabilities) == set(CLASSES)
        assert abs(sum(a.type_probabilities.values()) - 1.0) < 1e-4
        assert a.damage_type in CLASSES
        assert a.damage_probability == pytest.approx(1.0 - a.type_probabilities["NONE"], abs=1e-5)
    assert fitted.assess([]) == []


def test_bad_photo_in_a_batch_raises_image_rejected_naming_it(fitted: DamageClassifier) -> None:
    good = render_photo_jpeg(spec(1, DamageType.NONE))
    with pytest.raises(ImageRejected, match="photo 1"):
        fitted.assess([good, b"not an image at all"])


@pytest.mark.parametrize("threads", [1, 2], ids=["one-thread", "data-parallel"])
def test_photos_over_several_batches_give_the_same_features_and_name_the_bad_photo(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]], threads: int
) -> None:
    """Photos spanning several batches (encoded one after another, or one batch per thread)
    get the features they get one at a time; the first bad photo is named by its place in the
    whole list, not in its batch."""
    jpegs = photos[0][:21]
    encoder = fitted.encoder
    saved = encoder.batch_size, encoder.num_threads
    try:
        encoder.batch_size, encoder.num_threads = 2, threads
        together = fitted.transform(jpegs)
        with pytest.raises(ImageRejected, match="photo 13"):
            fitted.transform([*jpegs[:13], b"not an image", *jpegs[13:17], b"", *jpegs[17:]])
    finally:
        encoder.batch_size, encoder.num_threads = saved
    alone = np.concatenate([fitted.transform([j]) for j in jpegs])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-4)


def test_aggregate_takes_the_worst_photo() -> None:
    clear = PhotoAssessment(0.05, "NONE", {"NONE": 0.95, "CRACK_BREAK": 0.05})
    cracked = PhotoAssessment(
        0.9, "CRACK_BREAK", {"NONE": 0.1, "CRACK_BREAK": 0.8, "DENT_DEFORMATION": 0.1}
    )
    case = aggregate([clear, cracked, clear])
    assert case == CaseDamage(0.9, "CRACK_BREAK", photo_count=3, damaged_photos=1)
    assert aggregate([clear]).damage_type == "NONE"
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_fit_rejects_bad_labels_and_untyped_damage_only_trains_the_damage_head() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, FEATURE_DIM)).astype(np.float32)
    with pytest.raises(ValueError, match="unknown damage label"):
        DamageClassifier().fit_features(features, ["BROKEN"] * 40)
    features[:20] += 1.0
    labels = [DAMAGED_UNTYPED] * 10 + ["CRACK_BREAK"] * 5 + ["DENT_DEFORMATION"] * 5 + ["NONE"] * 20
    model = DamageClassifier(calibration_folds=2).fit_features(features, labels)
    assert model.type_classes_ == ["CRACK_BREAK", "DENT_DEFORMATION"]
    proba = model.predict_proba_features(features)
    assert (1.0 - proba[:20, 0]).mean() > (1.0 - proba[20:, 0]).mean()
    assert np.allclose(proba[:, [1, 4, 5]], 0.0)  # types never seen get no probability


def _perturbed(photo: Image.Image) -> list[Image.Image]:
    return [
        photo.rotate(4, resample=Image.Resampling.BILINEAR, fillcolor=photo.getpixel((0, 0))),
        photo.rotate(-4, resample=Image.Resampling.BILINEAR, fillcolor=photo.getpixel((0, 0))),
        ImageEnhance.Brightness(photo).enhance(1.1),
        ImageEnhance.Brightness(photo).enhance(0.9),
    ]


def test_small_rotations_and_brightness_changes_do_not_flip_clear_cases(
    fitted: DamageClassifier,
) -> None:
    candidates = [spec(500 + i, TYPES[i % len(TYPES)]) for i in range(24)]
    originals = [render_photo(s) for s in candidates]
    base = 1.0 - fitted.predict_proba(originals)[:, 0]
    clear = [i for i, p in enumerate(base) if p <= 0.25 or p >= 0.75]
    assert len(clear) >= 6, f"too few clear cases to test: {np.round(base, 2)}"
    for i in clear:
        varied = 1.0 - fitted.predict_proba(_perturbed(originals[i]))[:, 0]
        assert np.all((varied >= 0.5) == (base[i] >= 0.5)), (i, base[i], varied)


def test_product_line_heads_serve_their_line_and_the_general_heads_the_rest(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]], tmp_path: Path
) -> None:
    import copy

    jpegs, labels = photos
    model = copy.deepcopy(fitted)
    # a line of dents: 20 intact and 20 dented photos, 2x2 crops, mirrored copies
    rows = [i for i in range(150) if labels[i] in ("NONE", "DENT_DEFORMATION")][:40]
    model.fit_line("dents", [jpegs[i] for i in rows], [labels[i] for i in rows], crops=2, views=2)
    assert model.product_lines == ["dents"] and model.lines_["dents"].photos == 80
    held = jpegs[150:162]
    general = fitted.predict_proba(held)
    assert np.allclose(model.predict_proba(held), general)
    assert np.allclose(model.predict_proba(held, product_line="other"), general)
    line = model.predict_proba(held, product_line="dents")
    assert line.shape == general.shape and not np.allclose(line, general)
    assert np.allclose(line.sum(axis=1), 1.0)
    # a line without a type head keeps the general type head's types
    assert [a.damage_type in CLASSES for a in model.assess(held, "dents")] == [True] * 12
    model.save(tmp_path / "lines")
    loaded = DamageClassifier.load(tmp_path / "lines", num_threads=1)
    assert loaded.product_lines == ["dents"]
    assert np.abs(loaded.predict_proba(held, "dents") - line).max() <= 1e-4
    # refitting the general heads drops line heads built on the old ones
    features = model.transform(jpegs[:60])
    model.fit_features(features, labels[:60])
    assert model.product_lines == []


def test_line_with_test_views_answers_the_mean_over_turned_copies(
    fitted: DamageClassifier, photos: tuple[list[bytes], list[str]], tmp_path: Path
) -> None:
    import copy

    jpegs, labels = photos
    model = copy.deepcopy(fitted)
    rows = [i for i in range(150) if labels[i] in ("NONE", "DENT_DEFORMATION")][:40]
    line_photos, line_labels = [jpegs[i] for i in rows], [labels[i] for i in rows]
    with pytest.raises(ValueError, match=r"test_views must be in 1\.\.8"):
        model.fit_line("tta", line_photos, line_labels, views=2, test_views=9)
    model.fit_line("tta", line_photos, line_labels, crops=2, views=2, test_views=2)
    assert model.lines_["tta"].test_views == 2
    held = jpegs[150:156]
    served = model.predict_proba(held, "tta")
    features, crops = model.transform_views(held, 2, 2)
    assert crops is not None
    each = [
        model.predict_proba_features(
            features[v * 6 : (v + 1) * 6], "tta", crops[v * 6 : (v + 1) * 6]
        )
        for v in range(2)
    ]
    np.testing.assert_allclose(served, (each[0] + each[1]) / 2, atol=1e-9)
    assert not np.allclose(each[0], each[1])  # the mirrored copy does change the answer
    with pytest.raises(ValueError, match="not 2 views"):
        model.predict_proba_views(features[:5], 2, "tta", crops[:5])
    loaded = DamageClassifier.load(model.save(tmp_path / "tta"), num_threads=1)
    assert loaded.lines_["tta"].test_views == 2
    assert np.abs(loaded.predict_proba(held, "tta") - served).max() <= 1e-4


def test_line_heads_validate_and_shift_to_the_line_mix(fitted: DamageClassifier) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, FEATURE_DIM)).astype(np.float32)
    features[:30] += 0.5
    labels = ["CRACK_BREAK"] * 15 + ["STAIN_CONTAMINATION"] * 15 + ["NONE"] * 30
    model = DamageClassifier(calibration_folds=2)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.fit_line_features("x", features, labels)
    model.fit_features(features, labels)
    with pytest.raises(ValueError, match="unknown damage label"):
        model.fit_line_features("x", features, ["BROKEN"] * 60)
    with pytest.raises(ValueError, match="damaged and intact"):
        model.fit_line_features("x", features, ["NONE"] * 60)
    with pytest.raises(ValueError, match="unknown class"):
        model.fit_line_features("x", features, labels, class_prior={"BENT": 0.5})
    model.fit_line_features("x", features, labels, crops=2, crop_features=features)
    with pytest.raises(ValueError, match="needs crop features"):
        model.predict_proba_features(features, "x")
    model.fit_line_features("balanced", features, labels)
    model.fit_line_features(
        "mostly_intact",
        features,
        labels,
        class_prior={"NONE": 0.9, "CRACK_BREAK": 0.09, "STAIN_CONTAMINATION": 0.01},
    )
    balanced = model.predict_proba_features(features, "balanced")
    shifted = model.predict_proba_features(features, "mostly_intact")
    assert (shifted[:, 0] > balanced[:, 0]).all()  # more intact photos expected
    crack, stain = CLASSES.index("CRACK_BREAK"), CLASSES.index("STAIN_CONTAMINATION")
    ratio = shifted[:, crack] / shifted[:, stain]
    assert (ratio > balanced[:, crack] / balanced[:, stain]).all()  # cracks 9x likelier
    assert np.allclose(shifted.sum(axis=1), 1.0)


def test_calibration_folds_keep_a_photos_turned_copies_together() -> None:
    """With `views`, rows are copies of the same photos (view-major); a fold that scored a copy
    while its twin was in training would make the Platt fit too steep."""
    photos, views = 40, 4
    labels = np.tile(np.arange(photos) % 2, views)
    groups = np.tile(np.arange(photos), views)
    folds = _grouped_folds(labels, groups, 3)
    assert len(folds) == 3
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert set(labels[test]) == {0, 1}
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(photos * views))


def test_finetuned_encoder_is_saved_and_served_through_onnx_like_torch(
    photos: tuple[list[bytes], list[str]], tmp_path: Path
) -> None:
    """Fine-tuning changes the encoder (and its cache key); the saved model carries the tuned
    blocks into its ONNX graph, so the served model answers as the eager one."""
    jpegs, labels = photos
    # untyped damage counts as "not intact" for the fine-tuning loss
    tuned_labels = [DAMAGED_UNTYPED if i % 5 == 0 and lab != "NONE" else lab
                    for i, lab in enumerate(labels[:60])]  # fmt: skip
    model = DamageClassifier(
        image_size=SIZE, num_threads=1, backend="torch", finetune_epochs=1, finetune_from=14
    )
    plain_key = model.feature_key
    model.fit(jpegs[:60], tuned_labels)
    assert model.tuned_state_ is not None
    assert model.feature_key != plain_key and "-tuned-" in model.feature_key
    assert all(k.startswith(("_blocks.14.", "_blocks.15.", "_conv_head.", "_bn1."))
               for k in model.tuned_state_)  # fmt: skip
    plain = DamageClassifier(image_size=SIZE, num_threads=1, backend="torch")
    assert np.abs(plain.transform(jpegs[:3]) - model.transform(jpegs[:3])).max() > 1e-3
    served = DamageClassifier.load(model.save(tmp_path / "tuned"))
    assert served.feature_key == model.feature_key
    np.testing.assert_allclose(
        served.predict_proba(jpegs[150:160]), model.predict_proba(jpegs[150:160]), atol=1e-4
    )
    with pytest.raises(ValueError, match="differ"):
        model.finetune(jpegs[:3], labels[:2])
    with pytest.raises(ValueError, match="unknown damage label"):
        model.finetune(jpegs[:2], ["NONE", "BROKEN"])


def test_tuned_branch_keeps_pretrained_features_and_lines_pick_their_own(
    photos: tuple[list[bytes], list[str]], tmp_path: Path
) -> None:
    """With `finetune_branch`, the encoder computes the pretrained features unchanged and the
    tuned branch's beside them; the general heads and each line read the set they name, and
    the saved ONNX graph answers as eager torch."""
    from models.image_encoder import BRANCH_FEATURE_DIM

    jpegs, labels = photos
    model = DamageClassifier(
        image_size=SIZE,
        num_threads=1,
        backend="torch",
        finetune_epochs=1,
        finetune_from=14,
        finetune_branch=True,
    )
    model.finetune(jpegs[:60], labels[:60])
    assert "-branch-" in model.feature_key
    features = model.transform(jpegs[:90])
    assert features.shape == (90, BRANCH_FEATURE_DIM)
    plain = DamageClassifier(image_size=SIZE, num_threads=1, backend="torch")
    pretrained = plain.transform(jpegs[:90])
    np.testing.assert_allclose(features[:, :FEATURE_DIM], pretrained, rtol=1e-4, atol=1e-4)
    tuned_final = features[:, FEATURE_DIM:]
    assert np.abs(tuned_final - pretrained[:, : tuned_final.shape[1]]).max() > 1e-3

    model.fit_features(features, labels[:90])  # general heads: the pretrained "all"
    model.fit_line_features("renders", features, labels[:90], feature_set="tuned")
    model.fit_line_features("kept", features, labels[:90])
    assert model.line("renders").feature_set == "tuned"  # type: ignore[union-attr]
    held = model.transform(jpegs[150:160])
    by_line = model.predict_proba_features(held, "renders")
    assert not np.allclose(by_line, model.predict_proba_features(held, "kept"))
    # a line on the pretrained features answers as the same line fitted without a branch
    plain.fit_features(pretrained, labels[:90])
    plain.fit_line_features("kept", pretrained, labels[:90])
    np.testing.assert_allclose(
        model.predict_proba_features(held, "kept"),
        plain.predict_proba_features(plain.transform(jpegs[150:160]), "kept"),
        atol=1e-3,
    )
    served = DamageClassifier.load(model.save(tmp_path / "branch"))
    np.testing.assert_allclose(served.predict_proba(jpegs[150:160], "renders"), by_line, atol=1e-4)
    # the tuned features exist only where a branch does
    with pytest.raises(ValueError, match="tuned branch"):
        plain.fit_line_features("renders", pretrained, labels[:90], feature_set="tuned")


def test_pipeline_finetunes_on_the_named_training_sets_only() -> None:
    from training.pipelines.damage import finetune, simulated_set

    renders = simulated_set("sim_train", 24, 5, 0.34)
    data = {"train_sets": [renders], "params": {"real_weight": 1.0, "finetune_sets": ["nope"]}}
    model = DamageClassifier(image_size=SIZE, num_threads=1, finetune_epochs=1, finetune_from=15)
    with pytest.raises(ValueError, match="finetune_sets"):
        finetune(model, data, lambda message: None)
    data["params"]["finetune_sets"] = ["sim_train"]
    messages: list[str] = []
    finetune(model, data, messages.append)
    assert model.tuned_state_ and "-tuned-" in model.feature_key
    assert "24 photos" in messages[0] and "epoch 1/1" in messages[-1]


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_serving_heads_answer_what_scikit_learn_answers(head: str) -> None:
    """The heads are evaluated without scikit-learn's per-call checks; the numbers are the
    same (logistic heads directly, anything else through scikit-learn)."""
    from models.damage import _head_proba, _scale, select_features

    rng = np.random.default_rng(2)
    features = rng.normal(size=(90, FEATURE_DIM)).astype(np.float32)
    features[:60] += 0.4
    labels = ["CRACK_BREAK"] * 20 + ["DENT_DEFORMATION"] * 20 + ["SCRATCH_SCUFF"] * 20
    labels += ["NONE"] * 30
    model = DamageClassifier(calibration_folds=3, head=head).fit_features(features, labels)
    model.fit_line_features("line", features[:60], labels[:30] + ["NONE"] * 30)
    selected = select_features(features, model.feature_set)
    for rows in (selected[:1], selected):
        scaled = _scale(model.scaler_, rows)
        np.testing.assert_array_equal(scaled, model.scaler_.transform(rows))
        for fitted_head in (model.damage_head_, model.type_head_):
            np.testing.assert_allclose(
                _head_proba(fitted_head, scaled), fitted_head.predict_proba(scaled), rtol=1e-10
            )
    line = model.lines_["line"]
    line_inputs = model._line_inputs(line, features, None, line.crops, line.prior)
    line_scaled = _scale(line.scaler, line_inputs)
    np.testing.assert_allclose(
        _head_proba(line.damage_head, line_scaled),
        line.damage_head.predict_proba(line.scaler.transform(line_inputs)),
        rtol=1e-10,
    )
