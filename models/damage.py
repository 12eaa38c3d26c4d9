"""Damage assessment of return photos: calibrated damage probability and a damage type.

`DamageClassifier` = the shared image intake (`features.images`) -> EfficientNet-Lite0
features (`models.image_encoder`, ONNX Runtime in serving; ImageNet weights, with the last
blocks optionally fine-tuned on labelled photos: `finetune_epochs`, `finetune_from`,
`finetune`; with `finetune_branch` the tuned blocks run beside the ImageNet ones, so each
product line reads the features that suit it) -> two heads on standardised features:

- a damage head, damaged vs undamaged, calibrated by cross-validated Platt scaling; it learns
  from every labelled photo, including real ones whose damage type is unknown;
- a type head over the five damage types, learnt from damaged photos whose type is known.

Each head is a logistic regression (`head="linear"`) or a one-hidden-layer perceptron
(`head="mlp"`, early-stopped): photos of very different products (renders, castings, tiles)
need boundaries a single hyperplane cannot draw for all of them.

Product lines: beside these general heads (all sources mixed: what serves a photo of an
unknown line), each named product line with enough labelled photos gets heads of its own
(`fit_line` / `fit_line_features`: a calibrated logistic regression on that line's photos only,
optionally with max-pooled crop features for small defects, turned/mirrored training copies for
a line onboarded from few photos, and a shift to the line's class mix); `assess(images,
product_line=...)` uses them when the line has them, else the general heads.

Per photo: P(NONE) = 1 - p, P(type) = p * P(type | damaged); the damage type is NONE below the
decision threshold, else the most likely type. `aggregate` turns a case's photos into one
assessment. `DamageModel` is the MLflow pyfunc wrapper.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema
from numpy.typing import NDArray

from features.codes import DamageType
from features.images import DEFAULT_LIMITS, ImageInput, ImageRejected, IntakeLimits, decode_rgb
from models.image_encoder import (
    ONNX_FILE,
    Backend,
    ImageEncoder,
    read_tuned_state,
    select_features,
)

CLASSES = [t.value for t in DamageType]
"""Columns of `predict_proba`: NONE first, then the five damage types."""
DAMAGE_TYPES = CLASSES[1:]
DAMAGED_UNTYPED = "DAMAGED"
"""Training label of a damaged photo whose damage type is unknown (damage head only)."""
PARAMS_FILE = "damage.json"
HEADS_FILE = "heads.joblib"


@dataclass(frozen=True)
class PhotoAssessment:
    """The damage assessment of one photo."""

    damage_probability: float
    damage_type: str
    type_probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class CaseDamage:
    """The damage assessment of a case, from all its photos."""

    damage_probability: float  # the highest photo damage probability
    damage_type: str  # NONE, or the damage type most likely on any damaged-looking photo
    photo_count: int
    damaged_photos: int  # photos at or above the damage threshold


def aggregate(assessments: Sequence[PhotoAssessment], threshold: float = 0.5) -> CaseDamage:
    """One case-level assessment: the maximum damage probability over photos; the type is the
    damage type with the highest probability on any photo when that maximum reaches
    `threshold`, else NONE (one clear photo of damage makes the case damaged; undamaged views of
    other sides do not dilute it). Raises ValueError for no photos."""
    if not assessments:
        raise ValueError("aggregate needs at least one photo assessment")
    top = max(a.damage_probability for a in assessments)
    damaged = sum(a.damage_probability >= threshold for a in assessments)
    damage_type = DamageType.NONE.value
    if top >= threshold:
        scores = {
            t: max(a.type_probabilities.get(t, 0.0) for a in assessments) for t in DAMAGE_TYPES
        }
        damage_type = max(scores, key=lambda t: scores[t])
    return CaseDamage(
        damage_probability=float(top),
        damage_type=damage_type,
        photo_count=len(assessments),
        damaged_photos=int(damaged),
    )


@dataclass
class ProductLineHead:
    """A product line's own fitted heads: damaged-vs-intact (calibrated) and optionally the
    damage type, on the line's features (see `DamageClassifier.fit_line`)."""

    name: str
    crops: int  # grid side of the crops max-pooled beside the whole photo (1: whole photo only)
    prior: bool  # whether the general damage head's logit is an input feature
    photos: int  # labelled photos the head was fitted on
    scaler: Any
    damage_head: Any
    type_head: Any  # None: the general type head gives the type
    type_classes: list[str]
    class_prior: dict[str, float] | None = None  # the line's expected photo mix (see fit_line)
    test_views: int = 1  # turned/mirrored copies whose probabilities are averaged in service
    feature_set: str | None = None  # encoder features the line reads (None: the general heads')


class DamageClassifier:
    """Photos -> (n, 6) probabilities over `CLASSES`, with the damage probability calibrated.

    Parameters
    ----------
    image_size: square side photos are decoded to before the encoder.
    feature_set: encoder features the heads see: "all" (avg- and max-pooled final and middle
        maps) or "avg" (the plain pooled embedding, the reference baseline).
    head: "linear" (logistic regression) or "mlp" (one hidden layer) for both heads.
    damage_C: inverse L2 strength of a linear damage head.
    type_C: inverse L2 strength of a linear type head.
    hidden_units: width of the hidden layer of mlp heads.
    alpha: L2 strength of mlp heads.
    calibration_folds: folds of the cross-validated Platt calibration of the damage head.
    threshold: damage probability from which a photo counts as damaged.
    batch_size: photos per encoder pass.
    num_threads: encoder threads (ONNX Runtime / torch).
    backend: encoder backend while fitting ("onnx" or "torch"); the saved model always serves
        through ONNX Runtime.
    random_state: seed of the calibration folds and of the fine-tuning.
    finetune_epochs: epochs of fine-tuning the encoder's last blocks in `fit` (0: the frozen
        ImageNet encoder; `finetune` can also be called on its own before `fit_features`).
    finetune_from: first MBConv block tuned (of 16; 12: the last two stages; the pipeline
        tunes from 14, which keeps a tuned branch cheap).
    finetune_lr: learning rate of the tuned blocks (the throwaway classifier gets 10x).
    finetune_branch: keep the pretrained blocks and run the tuned ones beside them (the encoder
        then computes both; `feature_set` and each line's `feature_set` pick "all" for the
        pretrained features, "tuned" or "both"), instead of replacing them.
    """

    def __init__(
        self,
        image_size: int = 224,
        feature_set: str = "all",
        head: str = "linear",
        damage_C: float = 0.05,
        type_C: float = 0.05,
        hidden_units: int = 256,
        alpha: float = 0.01,
        calibration_folds: int = 3,
        threshold: float = 0.5,
        batch_size: int = 32,
        num_threads: int | None = 2,
        backend: str = "onnx",
        random_state: int = 0,
        finetune_epochs: int = 0,
        finetune_from: int = 12,
        finetune_lr: float = 2e-4,
        finetune_branch: bool = False,
    ) -> None:
        self.image_size = image_size
        self.feature_set = feature_set
        self.head = head
        self.damage_C = damage_C
        self.type_C = type_C
        self.hidden_units = hidden_units
        self.alpha = alpha
        self.calibration_folds = calibration_folds
        self.threshold = threshold
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.backend = backend
        self.random_state = random_state
        self.finetune_epochs = finetune_epochs
        self.finetune_from = finetune_from
        self.finetune_lr = finetune_lr
        self.finetune_branch = finetune_branch
        self.tuned_state_: dict[str, Any] | None = None
        self._encoder: ImageEncoder | None = None

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn convention)."""
        return {
            "image_size": self.image_size,
            "feature_set": self.feature_set,
            "head": self.head,
            "damage_C": self.damage_C,
            "type_C": self.type_C,
            "hidden_units": self.hidden_units,
            "alpha": self.alpha,
            "calibration_folds": self.calibration_folds,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "num_threads": self.num_threads,
            "backend": self.backend,
            "random_state": self.random_state,
            "finetune_epochs": self.finetune_epochs,
            "finetune_from": self.finetune_from,
            "finetune_lr": self.finetune_lr,
            "finetune_branch": self.finetune_branch,
        }

    # -- features ------------------------------------------------------------------------------
    @property
    def feature_key(self) -> str:
        """Identifies the encoder features this model reads (cache key)."""
        return self.encoder.feature_key

    @property
    def encoder(self) -> ImageEncoder:
        """The image encoder (built on first use)."""
        if self._encoder is None:
            backend: Backend = "torch" if self.backend == "torch" else "onnx"
            self._encoder = ImageEncoder(
                image_size=self.image_size,
                backend=backend,
                batch_size=self.batch_size,
                num_threads=self.num_threads,
                tuned_state=self.tuned_state_,
                tuned_branch=self.finetune_branch,
            )
        return self._encoder

    def decode(
        self,
        images: Sequence[ImageInput],
        limits: IntakeLimits = DEFAULT_LIMITS,
        first_index: int = 0,
    ) -> NDArray[np.uint8]:
        """Photos (bytes or PIL images) -> RGB arrays at `image_size`; a bad photo raises
        `ImageRejected` naming its index (from `first_index`)."""
        return decode_rgb(images, self.image_size, limits, first_index)

    def transform(self, images: Sequence[ImageInput]) -> NDArray[np.float32]:
        """Encoder features of photos, shape (n, `encoder.feature_dim`); a bad photo raises
        `ImageRejected` naming its index in `images`. Batches are decoded and encoded on the
        encoder's threads, one batch per thread (`ImageEncoder.encode_batches`)."""
        if len(images) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        return self.encoder.encode_batches(
            len(images),
            lambda start, stop: self.decode(images[start:stop], DEFAULT_LIMITS, start),
        )

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        images: Sequence[ImageInput],
        labels: Sequence[str],
        sample_weight: Sequence[float] | NDArray[np.float64] | None = None,
    ) -> DamageClassifier:
        """Fit both heads on photos labelled with a `DamageType` value or `DAMAGED_UNTYPED`
        (after fine-tuning the encoder on them when `finetune_epochs` > 0)."""
        if self.finetune_epochs > 0:
            self.finetune(images, labels, sample_weight)
        return self.fit_features(self.transform(images), labels, sample_weight)

    def finetune(
        self,
        images: Sequence[ImageInput],
        labels: Sequence[str],
        sample_weight: Sequence[float] | NDArray[np.float64] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> DamageClassifier:
        """Fine-tune the encoder's last blocks (from `finetune_from`) for `finetune_epochs` on
        labelled photos (class-balanced, times `sample_weight`); afterwards this model's
        encoder computes the tuned features (its `feature_key` changes). Heads fitted before
        are dropped: fit them again on the new features. Returns self."""
        from models.image_encoder import tune_last_blocks

        labels_array = _checked_labels(labels)
        if len(labels_array) != len(images):
            raise ValueError(f"images ({len(images)}) and labels ({len(labels_array)}) differ")
        if self.finetune_epochs < 1:
            raise ValueError(f"finetune_epochs must be >= 1, got {self.finetune_epochs}")
        base = np.ones(len(labels_array)) if sample_weight is None else np.asarray(sample_weight)
        weights = _balanced_weights(labels_array, np.asarray(base, dtype=float))
        targets = np.array([CLASSES.index(v) if v in CLASSES else -1 for v in labels_array])
        step = self.batch_size * 4
        batches = (self.decode(images[i : i + step]) for i in range(0, len(images), step))
        self.tuned_state_ = tune_last_blocks(
            self.image_size,
            batches,
            targets,
            weights,
            len(CLASSES),
            first_block=self.finetune_from,
            epochs=self.finetune_epochs,
            learning_rate=self.finetune_lr,
            seed=self.random_state,
            progress=progress,
        )
        self._encoder = None
        for name in ("scaler_", "damage_head_", "type_head_", "type_classes_"):
            self.__dict__.pop(name, None)
        self.__dict__.pop("lines_", None)
        return self

    def fit_features(
        self,
        features: NDArray[np.float32],
        labels: Sequence[str],
        sample_weight: Sequence[float] | NDArray[np.float64] | None = None,
    ) -> DamageClassifier:
        """Fit on precomputed encoder features (what `transform` returns)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.preprocessing import StandardScaler

        if self.head not in ("linear", "mlp"):
            raise ValueError(f"head must be 'linear' or 'mlp', got {self.head!r}")

        features = np.asarray(features, dtype=np.float32)
        labels_array = _checked_labels(labels)
        if features.ndim != 2 or len(features) != len(labels_array):
            raise ValueError(
                f"features {features.shape} and labels ({len(labels_array)}) do not match"
            )
        weights = (
            np.ones(len(labels_array))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=float)
        )
        damaged = (labels_array != DamageType.NONE.value).astype(int)
        if len(set(damaged)) < 2:
            raise ValueError("labels: need both damaged and undamaged photos")
        features = select_features(features, self.feature_set)
        self.scaler_ = StandardScaler().fit(features)
        scaled = self.scaler_.transform(features)
        # balance the damage head by weight, then Platt-calibrate it on held-out folds so the
        # probability means what it says at the training mix
        balance = _balanced_weights(damaged, weights)
        self.damage_head_ = CalibratedClassifierCV(
            self._head(self.damage_C, len(scaled)),
            method="sigmoid",
            cv=self.calibration_folds,
            ensemble=True,
        )
        self.damage_head_.fit(scaled, damaged, sample_weight=balance)
        typed = np.isin(labels_array, DAMAGE_TYPES)
        present = sorted(set(labels_array[typed]))
        if len(present) >= 2:
            type_weights = _balanced_weights(labels_array[typed], weights[typed])
            self.type_head_: Any = self._head(self.type_C, int(typed.sum()))
            self.type_head_.fit(scaled[typed], labels_array[typed], sample_weight=type_weights)
            self.type_classes_ = [str(c) for c in self.type_head_.classes_]
        else:
            # one (or no) known type: it is the type of every damaged photo
            self.type_head_ = None
            self.type_classes_ = present or [DamageType.CRACK_BREAK.value]
        self.classes_ = list(CLASSES)
        # line heads built on earlier general heads no longer apply
        self.lines_: dict[str, ProductLineHead] = {}
        return self

    def _head(self, strength: float, n_samples: int) -> Any:
        if self.head == "mlp":
            from sklearn.neural_network import MLPClassifier

            return MLPClassifier(
                hidden_layer_sizes=(self.hidden_units,),
                alpha=self.alpha,
                max_iter=200,
                early_stopping=n_samples >= 200,  # too few photos to hold some out
                validation_fraction=0.15,
                n_iter_no_change=10,
                random_state=self.random_state,
            )
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=strength, max_iter=3000)

    # -- product lines -------------------------------------------------------------------------
    @property
    def product_lines(self) -> list[str]:
        """Names of the product lines that have their own heads."""
        return sorted(getattr(self, "lines_", {}))

    def line(self, product_line: str | None) -> ProductLineHead | None:
        """The heads of `product_line`, or None (no line given, or one without its own heads:
        the general heads serve it)."""
        if product_line is None:
            return None
        return getattr(self, "lines_", {}).get(product_line)

    def crop_feature_key(self, crops: int) -> str:
        """Cache key of the crop features `transform_crops(images, crops)` computes."""
        return f"{self.feature_key}-crops{crops}"

    def transform_crops(
        self, images: Sequence[ImageInput], crops: int, view: int = 0
    ) -> NDArray[np.float32]:
        """Encoder features max-pooled over a `crops` x `crops` grid of tiles: each photo is
        decoded at `crops * image_size` and every tile is encoded at the encoder's native size,
        so a small defect keeps `crops` times more pixels than in the whole-photo view. `view`
        turns or mirrors the photo first (see `dihedral`)."""
        if crops < 2:
            raise ValueError(f"crops must be at least 2, got {crops}")
        if len(images) == 0:
            return np.zeros((0, 0), dtype=np.float32)
        size = self.image_size
        out = []
        for start in range(0, len(images), self.batch_size):
            pixels = decode_rgb(images[start : start + self.batch_size], size * crops)
            pixels = dihedral(pixels, view)
            tiles = np.stack(
                [
                    pixels[:, i * size : (i + 1) * size, j * size : (j + 1) * size]
                    for i in range(crops)
                    for j in range(crops)
                ],
                axis=1,
            )
            encoded = self.encoder.encode(np.ascontiguousarray(tiles.reshape(-1, size, size, 3)))
            out.append(encoded.reshape(len(pixels), crops * crops, -1).max(axis=1))
        return np.concatenate(out)

    def transform_views(
        self, images: Sequence[ImageInput], views: int, crops: int = 1
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """Features of `views` turned/mirrored copies of each photo (training augmentation
        for a line with few photos; damage does not depend on how the photo was held): whole
        photo features (views * n, FEATURE_DIM), view-major (all photos in view 0, then view
        1, ...), and the crop features in the same order when `crops` > 1, else None."""
        if not 1 <= views <= len(DIHEDRAL_VIEWS):
            raise ValueError(f"views must be in 1..{len(DIHEDRAL_VIEWS)}, got {views}")
        whole, tiles = [], []
        for start in range(0, len(images), self.batch_size * 4):
            batch = images[start : start + self.batch_size * 4]
            pixels = self.decode(batch)
            whole.append([self.encoder.encode(dihedral(pixels, v)) for v in range(views)])
            if crops > 1:
                tiles.append([self.transform_crops(batch, crops, v) for v in range(views)])
        features = np.concatenate([np.concatenate([b[v] for b in whole]) for v in range(views)])
        if crops <= 1:
            return features, None
        crop_features = np.concatenate(
            [np.concatenate([b[v] for b in tiles]) for v in range(views)]
        )
        return features, crop_features

    def _general_logit(self, selected: NDArray[np.float32]) -> NDArray[np.float64]:
        """The general damage head's log-odds of (selected) features, clipped."""
        p = _head_proba(self.damage_head_, _scale(self.scaler_, selected))[:, 1]
        p = np.clip(p, 1e-4, 1.0 - 1e-4)
        return np.log(p / (1.0 - p))

    def _line_inputs(
        self,
        head: ProductLineHead | None,
        features: NDArray[np.float32],
        crop_features: NDArray[np.float32] | None,
        crops: int,
        prior: bool,
        feature_set: str | None = None,
    ) -> NDArray[np.float64]:
        features = np.asarray(features, dtype=np.float32)
        columns = feature_set or self.feature_set
        selected = select_features(features, columns)
        parts: list[NDArray[Any]] = [selected]
        if crops > 1:
            if crop_features is None or len(crop_features) != len(selected):
                name = head.name if head is not None else "this line"
                raise ValueError(f"product line {name!r} needs crop features ({crops}x{crops})")
            parts.append(select_features(np.asarray(crop_features, np.float32), columns))
        if prior:
            general = select_features(features, self.feature_set)
            parts.append(self._general_logit(general)[:, None])
        return np.concatenate(parts, axis=1).astype(np.float64)

    def fit_line(
        self,
        name: str,
        images: Sequence[ImageInput],
        labels: Sequence[str],
        crops: int = 1,
        prior: bool = False,
        C: float | None = None,
        class_prior: Mapping[str, float] | None = None,
        views: int = 1,
        test_views: int = 1,
        feature_set: str | None = None,
    ) -> DamageClassifier:
        """Onboard product line `name` from its labelled photos (see `fit_line_features`);
        `views` > 1 trains on that many turned/mirrored copies of each photo (`dihedral`):
        what lets a line with 50 photos per class learn what does not matter."""
        features, crop_features = self.transform_views(images, views, crops)
        groups = np.tile(np.arange(len(labels)), views)
        return self.fit_line_features(
            name,
            features,
            list(labels) * views,
            crop_features,
            crops,
            prior,
            C,
            class_prior,
            groups=groups,
            test_views=test_views,
            feature_set=feature_set,
        )

    def fit_line_features(
        self,
        name: str,
        features: NDArray[np.float32],
        labels: Sequence[str],
        crop_features: NDArray[np.float32] | None = None,
        crops: int = 1,
        prior: bool = False,
        C: float | None = None,
        class_prior: Mapping[str, float] | None = None,
        groups: Sequence[int] | NDArray[np.int_] | None = None,
        test_views: int = 1,
        feature_set: str | None = None,
    ) -> DamageClassifier:
        """Fit (or replace) the heads of product line `name` on its own photos' features.

        The general heads must be fitted first and stay as they are. The line gets a
        calibrated damaged-vs-intact logistic regression on its photos' features (plus the
        `crops` x `crops` max-pooled crop features when `crops` > 1, and the general damage
        head's logit when `prior`: the few-shot onboarding of a line with few photos), and a
        type head when its photos name at least two damage types; else the general type head
        gives the type. `C` is the inverse L2 strength (default `damage_C`). `groups` names the
        source photo of each row when rows are turned or mirrored copies (`views`): the
        calibration folds keep a photo's copies together, so no copy is scored out of fold by a
        regression that saw its twin (that made the Platt fit too steep).

        `test_views` > 1 makes `predict_proba` answer a photo of this line with the mean of
        its probabilities over that many turned/mirrored copies (test-time augmentation: for
        lines whose photos have no upright, and trained on as many `views`); each copy costs
        a full encoder pass.

        `feature_set` names the encoder features the line reads (None: those of the general
        heads); "tuned" or "both" need an encoder with a tuned branch (`finetune_branch`), so a
        line can keep the ImageNet features while another reads the fine-tuned ones.

        Both heads learn from class-balanced weights, so their probabilities hold for a balanced
        mix; `class_prior` (share of each `CLASSES` value among the line's photos in service,
        e.g. the natural mix when training photos were rebalanced) shifts them to that mix
        (Bayes prior shift on the damage odds and on the type probabilities).
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        self._check_fitted()
        if not name or not isinstance(name, str):
            raise ValueError(f"product line name must be a non-empty string, got {name!r}")
        if not 1 <= test_views <= len(DIHEDRAL_VIEWS):
            raise ValueError(f"test_views must be in 1..{len(DIHEDRAL_VIEWS)}, got {test_views}")
        labels_array = _checked_labels(labels)
        if len(features) != len(labels_array):
            raise ValueError(f"features ({len(features)}) and labels ({len(labels_array)}) differ")
        damaged = (labels_array != DamageType.NONE.value).astype(int)
        minority = int(min(damaged.sum(), len(damaged) - damaged.sum()))
        if minority < 2:
            raise ValueError(f"labels of line {name!r}: need damaged and intact photos")
        inputs = self._line_inputs(None, features, crop_features, crops, prior, feature_set)
        scaler = StandardScaler().fit(inputs)
        scaled = scaler.transform(inputs)
        group_ids = np.arange(len(damaged)) if groups is None else np.asarray(groups)
        if len(group_ids) != len(damaged):
            raise ValueError(f"groups ({len(group_ids)}) and labels ({len(damaged)}) differ")
        strength = self.damage_C if C is None else C
        folds = _grouped_folds(damaged, group_ids, min(self.calibration_folds, minority))
        damage_head = CalibratedClassifierCV(
            LogisticRegression(C=strength, max_iter=3000),
            method="sigmoid",
            cv=folds,
            ensemble=False,  # one regression on all the line's photos, Platt on out-of-fold
        )
        damage_head.fit(
            scaled, damaged, sample_weight=_balanced_weights(damaged, np.ones(len(damaged)))
        )
        typed = np.isin(labels_array, DAMAGE_TYPES)
        type_head: Any = None
        type_classes: list[str] = []
        if len(set(labels_array[typed])) >= 2:
            type_head = LogisticRegression(C=self.type_C, max_iter=3000)
            type_head.fit(
                scaled[typed],
                labels_array[typed],
                sample_weight=_balanced_weights(labels_array[typed], np.ones(int(typed.sum()))),
            )
            type_classes = [str(c) for c in type_head.classes_]
        shares = None if class_prior is None else _class_prior(class_prior)
        self.lines_[name] = ProductLineHead(
            name=name,
            crops=crops,
            prior=prior,
            photos=len(labels_array),
            scaler=scaler,
            damage_head=damage_head,
            type_head=type_head,
            type_classes=type_classes,
            class_prior=shares,
            test_views=test_views,
            feature_set=feature_set,
        )
        return self

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba_features(
        self,
        features: NDArray[np.float32],
        product_line: str | None = None,
        crop_features: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float64]:
        """(n, 6) probabilities over `CLASSES` from encoder features, by the heads of
        `product_line` when it has its own (its crop features then come in `crop_features`
        if it uses crops), else by the general heads."""
        self._check_fitted()
        if len(features) == 0:
            return np.zeros((0, len(CLASSES)))
        selected = select_features(np.asarray(features, dtype=np.float32), self.feature_set)
        given = np.zeros((len(selected), len(DAMAGE_TYPES)))
        columns = [DAMAGE_TYPES.index(c) for c in self.type_classes_]
        line = self.line(product_line)
        # a few photos make small matrix products: waking BLAS threads costs more than it saves
        with _blas_threads(1 if len(selected) < 64 else None):
            scaled = _scale(self.scaler_, selected)
            p_damage = _head_proba(self.damage_head_, scaled)[:, 1]
            if self.type_head_ is None:
                given[:, columns] = 1.0 / len(columns)
            else:
                given[:, columns] = _head_proba(self.type_head_, scaled)
            if line is not None:
                inputs = self._line_inputs(
                    line, features, crop_features, line.crops, line.prior, line.feature_set
                )
                line_scaled = _scale(line.scaler, inputs)
                p_damage = _head_proba(line.damage_head, line_scaled)[:, 1]
                if line.type_head is not None:
                    given[:] = 0.0
                    line_columns = [DAMAGE_TYPES.index(c) for c in line.type_classes]
                    given[:, line_columns] = _head_proba(line.type_head, line_scaled)
                if line.class_prior is not None:
                    p_damage, given = _shift_prior(p_damage, given, line.class_prior)
        proba = np.empty((len(scaled), len(CLASSES)))
        proba[:, 0] = 1.0 - p_damage
        proba[:, 1:] = p_damage[:, None] * given
        return proba

    def predict_proba_views(
        self,
        features: NDArray[np.float32],
        views: int,
        product_line: str | None = None,
        crop_features: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float64]:
        """(n, 6) probabilities averaged over `views` turned/mirrored copies, from view-major
        features of n photos (`transform_views`: all photos in view 0, then view 1, ...)."""
        if views < 1 or len(features) % views:
            raise ValueError(f"{len(features)} feature rows are not {views} views of each photo")
        proba = self.predict_proba_features(features, product_line, crop_features)
        return np.asarray(proba.reshape(views, -1, len(CLASSES)).mean(axis=0))

    def predict_proba(
        self, images: Sequence[ImageInput], product_line: str | None = None
    ) -> NDArray[np.float64]:
        """(n, 6) probabilities over `CLASSES` (NONE first) for photos, by the heads of
        `product_line` when it has its own, else by the general heads (a line with
        `test_views` > 1 averages over that many turned/mirrored copies)."""
        line = self.line(product_line)
        if line is not None and line.test_views > 1:
            features, crops = self.transform_views(images, line.test_views, line.crops)
            return self.predict_proba_views(features, line.test_views, product_line, crops)
        crop_features = None
        if line is not None and line.crops > 1:
            crop_features = self.transform_crops(images, line.crops)
        return self.predict_proba_features(self.transform(images), product_line, crop_features)

    def damage_types(self, proba: NDArray[np.float64]) -> list[str]:
        """Damage type per row of `proba`: NONE below the threshold, else the likeliest type."""
        damaged = (1.0 - proba[:, 0]) >= self.threshold
        likeliest = np.asarray(DAMAGE_TYPES)[proba[:, 1:].argmax(axis=1)]
        return [
            str(t) if d else DamageType.NONE.value for t, d in zip(likeliest, damaged, strict=True)
        ]

    def predict(self, images: Sequence[ImageInput], product_line: str | None = None) -> list[str]:
        """Damage type per photo."""
        return self.damage_types(self.predict_proba(images, product_line))

    def assess(
        self, images: Sequence[ImageInput], product_line: str | None = None
    ) -> list[PhotoAssessment]:
        """Batched serving call: one `PhotoAssessment` per photo, in order.

        Photos are bytes (JPEG, PNG, WebP) or PIL images; a bad one raises `ImageRejected`
        whose message names its index ("photo 2: ...") so the caller can answer 422.
        `product_line` picks that line's own heads when it has them (see `product_lines`);
        None, or a line without its own heads, is served by the general heads.
        """
        if len(images) == 0:
            return []
        return self.assessments(self.predict_proba(images, product_line))

    def assessments(self, proba: NDArray[np.float64]) -> list[PhotoAssessment]:
        """`PhotoAssessment`s from rows of `predict_proba`."""
        types = self.damage_types(proba)
        return [
            PhotoAssessment(
                damage_probability=round(float(1.0 - row[0]), 6),
                damage_type=damage_type,
                type_probabilities={
                    c: round(float(p), 6) for c, p in zip(CLASSES, row, strict=True)
                },
            )
            for row, damage_type in zip(proba, types, strict=True)
        ]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write the fitted model (heads, parameters, ONNX encoder) into `directory`; nothing
        outside it is read by `load`. Returns the directory."""
        import joblib

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save(directory)
        joblib.dump(
            {
                "scaler": self.scaler_,
                "damage_head": self.damage_head_,
                "type_head": self.type_head_,
                "type_classes": self.type_classes_,
                "lines": getattr(self, "lines_", {}),
            },
            directory / HEADS_FILE,
        )
        meta = {
            "kind": "damage",
            "classes": CLASSES,
            "params": self.get_params(),
            "product_lines": self.product_lines,
        }
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path, num_threads: int | None = None) -> DamageClassifier:
        """A fitted model read back from a folder written by `save` (serving via ONNX
        Runtime); `num_threads` overrides the saved thread count."""
        import joblib

        directory = Path(directory)
        meta = json.loads((directory / PARAMS_FILE).read_text(encoding="utf-8"))
        if meta.get("kind") != "damage":
            raise ValueError(f"{directory} does not hold a damage model")
        if list(meta["classes"]) != CLASSES:
            raise ValueError(f"{directory}: damage classes {meta['classes']} != {CLASSES}")
        params = dict(meta["params"])
        params["backend"] = "onnx"
        if num_threads is not None:
            params["num_threads"] = num_threads
        model = cls(**params)
        model.tuned_state_ = read_tuned_state(directory)
        model._encoder = ImageEncoder(
            image_size=model.image_size,
            backend="onnx",
            onnx_path=directory / ONNX_FILE,
            batch_size=model.batch_size,
            num_threads=model.num_threads,
            tuned_state=model.tuned_state_,
            tuned_branch=model.finetune_branch,
        )
        heads = joblib.load(directory / HEADS_FILE)
        model.scaler_ = heads["scaler"]
        model.damage_head_ = heads["damage_head"]
        model.type_head_ = heads["type_head"]
        model.type_classes_ = list(heads["type_classes"])
        model.lines_ = dict(heads.get("lines", {}))
        model.classes_ = list(CLASSES)
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "damage_head_"):
            raise RuntimeError("DamageClassifier is not fitted; call fit first")


def _class_prior(class_prior: Mapping[str, float]) -> dict[str, float]:
    """A validated, normalised class mix over `CLASSES`."""
    unknown = sorted(set(class_prior) - set(CLASSES))
    if unknown:
        raise ValueError(f"class_prior: unknown class(es) {unknown}; expected {CLASSES}")
    shares = {c: float(class_prior.get(c, 0.0)) for c in CLASSES}
    if any(v < 0 for v in shares.values()) or not 0 < shares[CLASSES[0]] < sum(shares.values()):
        raise ValueError(f"class_prior: needs non-negative shares, NONE and damage > 0: {shares}")
    total = sum(shares.values())
    return {c: v / total for c, v in shares.items()}


def _shift_prior(
    p_damage: NDArray[np.float64], given: NDArray[np.float64], shares: dict[str, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Probabilities learnt on a balanced mix moved to the mix `shares`: damage odds times the
    damaged:intact ratio; type probabilities times the type shares, renormalised."""
    damaged_share = 1.0 - shares[CLASSES[0]]
    odds = np.clip(p_damage, 1e-12, 1 - 1e-12) / np.clip(1.0 - p_damage, 1e-12, 1.0)
    odds = odds * damaged_share / (1.0 - damaged_share)
    type_shares = np.array([shares[t] for t in DAMAGE_TYPES])
    if type_shares.sum() > 0:
        weighted = given * type_shares
        total = weighted.sum(axis=1, keepdims=True)
        given = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), given)
    return odds / (1.0 + odds), given


DIHEDRAL_VIEWS = (
    (0, False),
    (0, True),
    (2, False),
    (2, True),
    (1, False),
    (1, True),
    (3, False),
    (3, True),
)
"""(quarter turns, mirrored) of each view: 2 views add the mirror image, 4 the half turn,
8 every turn and mirror."""


def dihedral(pixels: NDArray[np.uint8], view: int) -> NDArray[np.uint8]:
    """Photos (n, h, w, 3) turned by quarter turns and/or mirrored as `DIHEDRAL_VIEWS[view]`
    says (view 0: unchanged). Square photos keep their shape."""
    turns, mirrored = DIHEDRAL_VIEWS[view]
    out = np.rot90(pixels, turns, axes=(1, 2)) if turns else pixels
    if mirrored:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def _blas_threads(limit: int | None) -> Iterator[None]:
    """Limit BLAS/OpenMP threads inside the block (None: leave them as they are)."""
    if limit is None:
        yield
        return
    with _blas_controller().limit(limits=limit):
        yield


def _balanced_weights(labels: NDArray[Any], weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sample weights rescaled so every label carries the same total weight."""
    out = np.asarray(weights, dtype=float).copy()
    values = np.unique(labels)
    for value in values:
        mask = labels == value
        total = out[mask].sum()
        if total > 0:
            out[mask] *= len(out) / (len(values) * total)
    return out


class DamageModel(PythonModel):
    """Photos in (`image` bytes, or `path` to a file), damage assessments out."""

    def __init__(self) -> None:
        self.estimator: Any = None

    def load_context(self, context: Any) -> None:
        """Load the estimator from the model's artifacts."""
        from models.pyfunc import load_estimator

        self.estimator = load_estimator(Path(context.artifacts["estimator"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        """One row per photo: damage_probability, damage_type, type_probabilities (JSON)."""
        return damage_frame(self.estimator, photo_inputs(model_input))


def photo_inputs(frame: pd.DataFrame) -> list[bytes]:
    """Photo bytes from a frame with an `image` (bytes) or a `path` column; a missing or
    unreadable file raises `ImageRejected` naming the row."""
    if "image" in frame:
        return [_as_bytes(value, index) for index, value in enumerate(frame["image"])]
    if "path" in frame:
        photos = []
        for index, path in enumerate(frame["path"]):
            try:
                photos.append(Path(str(path)).read_bytes())
            except OSError as exc:
                raise ImageRejected(f"photo {index}: cannot read {path}: {exc.strerror}") from exc
        return photos
    raise ValueError("model input needs an 'image' (bytes) or a 'path' column")


def _as_bytes(value: Any, index: int) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):  # MLflow serialises binary columns as base64 text
        import base64
        import binascii

        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ImageRejected(f"photo {index}: not base64-encoded image bytes") from exc
    raise ImageRejected(f"photo {index}: expected image bytes, got {type(value).__name__}")


def damage_frame(estimator: DamageClassifier, photos: Sequence[bytes]) -> pd.DataFrame:
    """The damage model's output frame for photo bytes."""
    assessed = estimator.assess(photos)
    return pd.DataFrame(
        {
            "damage_probability": [a.damage_probability for a in assessed],
            "damage_type": [a.damage_type for a in assessed],
            "type_probabilities": [json.dumps(a.type_probabilities) for a in assessed],
        }
    )


DAMAGE_SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("binary", "image", required=False), ColSpec("string", "path", required=False)]
    ),
    outputs=Schema(
        [
            ColSpec("double", "damage_probability"),
            ColSpec("string", "damage_type"),
            ColSpec("string", "type_probabilities"),
        ]
    ),
)


def _checked_labels(labels: Sequence[str]) -> NDArray[np.str_]:
    """Labels as strings; a value outside `CLASSES` and `DAMAGED_UNTYPED` raises, naming it."""
    labels_array = np.asarray([str(label) for label in labels])
    unknown = sorted(set(labels_array) - set(CLASSES) - {DAMAGED_UNTYPED})
    if unknown:
        raise ValueError(f"labels: unknown damage label(s) {unknown}; expected {CLASSES}")
    return labels_array


def _grouped_folds(
    labels: NDArray[np.int_], groups: NDArray[Any], n_splits: int
) -> list[tuple[NDArray[np.int_], NDArray[np.int_]]]:
    """Stratified folds that keep each group (a photo and its turned copies) in one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=max(2, n_splits), shuffle=True, random_state=0)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


# -- serving-speed heads ----------------------------------------------------------------------
# scikit-learn checks its inputs on every call (~1 ms each, ~10 ms a photo over the calibrated
# ensemble's folds); for one photo that is most of the head's cost. These compute the same
# numbers for the fitted types used here, and fall back to scikit-learn for any other.


def _scale(scaler: Any, X: NDArray[Any]) -> NDArray[Any]:
    """`StandardScaler.transform`, in the same order of float operations."""
    from sklearn.preprocessing import StandardScaler

    if type(scaler) is not StandardScaler or scaler.mean_ is None or scaler.scale_ is None:
        return np.asarray(scaler.transform(X))
    out = np.array(X, dtype=X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
    out -= scaler.mean_.astype(out.dtype)
    out /= scaler.scale_.astype(out.dtype)
    return out


def _direct_proba(model: Any, X: NDArray[Any]) -> NDArray[np.float64] | None:
    """`predict_proba` of a logistic regression (binary: expit, multinomial: softmax) or of an
    MLP (scikit-learn's own forward pass, without its input checks); None for other types."""
    from scipy.special import expit, softmax
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if type(model) is LogisticRegression:
        scores = X @ model.coef_.T + model.intercept_
        if len(model.classes_) == 2:
            p1 = expit(scores[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return np.asarray(softmax(scores, axis=1), dtype=np.float64)
    if type(model) is MLPClassifier:
        out = model._forward_pass_fast(X, check_input=False)
        if model.n_outputs_ == 1:
            out = out.ravel()
        if out.ndim == 1:
            return np.vstack([1 - out, out]).T
        return np.asarray(out)
    return None


def _binary_score(model: Any, X: NDArray[Any]) -> NDArray[np.float64] | None:
    """What a calibrator of `model` reads: the decision function of a binary logistic
    regression, else the probability of class 1 (an MLP has no decision function)."""
    from sklearn.linear_model import LogisticRegression

    if type(model) is LogisticRegression and len(model.classes_) == 2:
        return np.asarray(X @ model.coef_[0] + model.intercept_[0], dtype=np.float64)
    proba = _direct_proba(model, X)
    return None if proba is None or proba.shape[1] != 2 else proba[:, 1]


def _head_proba(head: Any, X: NDArray[Any]) -> NDArray[np.float64]:
    """`head.predict_proba(X)`; directly for the heads `fit` builds (logistic or MLP, alone or
    in a binary sigmoid-calibrated ensemble), else through scikit-learn."""
    from scipy.special import expit
    from sklearn.calibration import CalibratedClassifierCV

    direct = _direct_proba(head, X)
    if direct is not None:
        return direct
    calibrated = type(head) is CalibratedClassifierCV and head.method == "sigmoid"
    if calibrated and len(head.classes_) == 2:
        total = np.zeros(len(X))
        for member in head.calibrated_classifiers_:
            score = _binary_score(member.estimator, X)
            if score is None or len(member.calibrators) != 1:
                return np.asarray(head.predict_proba(X), dtype=np.float64)
            calibrator = member.calibrators[0]
            total += expit(-(calibrator.a_ * score + calibrator.b_))
        p1 = total / len(head.calibrated_classifiers_)
        return np.column_stack([1.0 - p1, p1])
    return np.asarray(head.predict_proba(X), dtype=np.float64)
