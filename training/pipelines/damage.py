"""Damage pipeline: simulated product photos + real defect photos -> damage model -> evaluation.

Steps are plain functions; `DamageFamily` wires them for the runner (`triage train damage`).

Data: simulated photos rendered in memory from a training world (damage types rebalanced so
every type is well represented), a second world from another seed with its natural mix (an
evaluation set only), and the real casting and magnetic-tile photos when
`settings.datasets_dir` has them (their fixed held-out splits never reach training). Encoder
features are computed once per photo set and cached under `artifacts/cache/damage-features`,
keyed by the encoder and the set's content, so repeated runs and champion re-evaluation are
cheap.

Two estimators are fitted on the same features: `baseline` (the plain pooled embedding + linear
heads, the reference) and `efficientnet` (max-pooled final and middle-stage maps too), the
candidate. Each gets general heads (all sources mixed: what serves a photo of an unknown product
line) and, per product line in `lines` whose training set is present, the line's own heads
(`DamageClassifier.fit_line_features`, on that line's training photos only). Evaluation per
source: the line head's figures are `<set>.<metric>`, the general head's `<set>.general.<metric>`.
For the real casting set also the few-shot protocol: casting onboarded as a new product line from
`fewshot_per_class` photos per class, on general heads fitted without casting (everything else
is the prior).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.codes import DamageType
from models.damage import (
    CLASSES,
    DAMAGE_SIGNATURE,
    DAMAGE_TYPES,
    DamageClassifier,
    DamageModel,
)
from models.metrics import classification_summary, confusion_matrix_figure
from models.pyfunc import save_estimator
from models.settings import Settings
from training.pipelines.runner import Evaluation, LoggableModel, frame_fingerprint
from training.real_images import CASTING, TILES, available_sources, load_real_photos, subsample
from training.simulation.config import load_world_config
from training.simulation.world import build_world

EVAL_SETS = ("sim_eval", "real_casting", "real_tiles")
LINE_SETS = {
    "simulated": ("sim_train", "sim_eval"),
    "casting": ("real_casting_train", "real_casting"),
    "tiles": ("real_tiles_train", "real_tiles"),
}
"""Product line -> (its training set, its evaluation set)."""
REAL_SETS = {CASTING: "casting", TILES: "tiles"}
CACHE_FOLDER = "cache/damage-features"
POOL_MIN_PHOTOS = 256  # fewer renders are quicker in-process than through a pool


@dataclass
class PhotoSet:
    """Labelled photos: a frame (one row per photo: `label`, `source`, ...) and their bytes,
    read or rendered on first use."""

    name: str
    frame: pd.DataFrame
    content_key: str
    read: Callable[[pd.DataFrame], list[bytes]]
    _photos: list[bytes] | None = field(default=None, repr=False)

    def photos(self) -> list[bytes]:
        """The photo bytes, in frame order."""
        if self._photos is None:
            self._photos = self.read(self.frame)
        return self._photos

    def subset(self, mask: np.ndarray, name: str) -> PhotoSet:
        """The rows under `mask` as a new set (bytes shared when already read)."""
        frame = self.frame[mask].reset_index(drop=True)
        photos = None
        if self._photos is not None:
            photos = [p for p, keep in zip(self._photos, mask, strict=True) if keep]
        rows = hashlib.sha256(np.asarray(mask, dtype=bool).tobytes()).hexdigest()[:16]
        return PhotoSet(name, frame, _key(self.content_key, name, rows), self.read, photos)


# -- simulated photos ----------------------------------------------------------------------------
def simulated_photos(n_photos: int, seed: int, none_share: float | None) -> pd.DataFrame:
    """Photo specs of a simulated world (shape, colour, damage type, severity, seed).

    `none_share` rebalances the damage types: that share undamaged, the rest spread evenly over
    the five damage types, severities drawn from the world's own damaged photos. None keeps the
    world's natural mix (for evaluation). `world_label` keeps the world's own damage type (the
    mix photos arrive in, which the simulated line's heads are shifted to).
    """
    world = build_world(max(n_photos, 500), n_photos, seed, load_world_config())
    photos = world.photos.reset_index(drop=True)
    world_label = photos["damage_type"].astype(str).to_numpy()  # the world's own mix
    if none_share is not None:
        rng = np.random.default_rng([seed, 0xDA3A6E])
        severities = photos.loc[photos["damage_type"] != "NONE", "severity"].to_numpy()
        shares = np.array([none_share] + [(1.0 - none_share) / len(DAMAGE_TYPES)] * 5)
        types = rng.choice(CLASSES, size=len(photos), p=shares)
        photos["damage_type"] = types
        photos["severity"] = np.where(types == "NONE", 0.0, rng.choice(severities, len(photos)))
    return pd.DataFrame(
        {
            "photo_id": photos["photo_id"],
            "shape": photos["shape"],
            "color_r": photos["color_r"],
            "color_g": photos["color_g"],
            "color_b": photos["color_b"],
            "severity": photos["severity"].astype(float),
            "seed": photos["seed"].astype("int64"),
            "label": photos["damage_type"].astype(str),
            "world_label": world_label,
            "source": "simulated",
        }
    )


def render_frame(frame: pd.DataFrame, workers: int | None = None) -> list[bytes]:
    """Render the JPEG bytes of each simulated photo spec in `frame`, in a process pool of
    `workers` (default: the CPU count, at most 4) for more than `POOL_MIN_PHOTOS` photos; the
    bytes do not depend on the pool."""
    from training.simulation.photos import render_photo_jpeg, specs_from_rows

    specs = specs_from_rows(frame.itertuples(index=False), label_column="label")
    workers = min(os.cpu_count() or 1, 4) if workers is None else workers
    if workers < 2 or len(specs) < POOL_MIN_PHOTOS:
        return [render_photo_jpeg(spec) for spec in specs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(render_photo_jpeg, specs, chunksize=64))


def read_files(frame: pd.DataFrame) -> list[bytes]:
    """The bytes of each file in `frame["path"]`."""
    return [Path(p).read_bytes() for p in frame["path"]]


def simulated_set(name: str, n_photos: int, seed: int, none_share: float | None) -> PhotoSet:
    """A simulated photo set (rendered lazily)."""
    frame = simulated_photos(n_photos, seed, none_share)
    key = frame_fingerprint(frame[["shape", "color_r", "severity", "seed", "label"]])
    return PhotoSet(name, frame, key, render_frame)


def real_set(datasets_dir: Path, source: str) -> PhotoSet:
    """A real photo set (all rows, with their `split`)."""
    frame = load_real_photos(datasets_dir, source)
    sizes = [Path(p).stat().st_size for p in frame["path"]]
    names = frame.assign(size=sizes, name=[Path(p).name for p in frame["path"]])
    key = frame_fingerprint(names[["name", "size", "label", "split"]])
    return PhotoSet(REAL_SETS[source], frame, key, read_files)


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


# -- features ------------------------------------------------------------------------------------
class FeatureStore:
    """Encoder features per photo set, in memory and on disk (`<cache_dir>/<feature key>/`)."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self._memory: dict[tuple[str, str], np.ndarray] = {}

    def features(self, estimator: DamageClassifier, photo_set: PhotoSet) -> np.ndarray:
        """Features of `photo_set` as `estimator` computes them (cached)."""
        return self._cached(
            estimator.feature_key, photo_set, lambda: estimator.transform(photo_set.photos())
        )

    def line_features(
        self, estimator: DamageClassifier, photo_set: PhotoSet, crops: int
    ) -> np.ndarray | None:
        """Crop features of `photo_set` for a line with `crops` > 1 (cached); None for 1."""
        if crops <= 1:
            return None
        return self._cached(
            estimator.crop_feature_key(crops),
            photo_set,
            lambda: estimator.transform_crops(photo_set.photos(), crops),
        )

    def view_features(
        self, estimator: DamageClassifier, photo_set: PhotoSet, views: int, crops: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Whole-photo and crop features of `views` turned/mirrored copies of each photo,
        view-major (`DamageClassifier.transform_views`), cached; views=1 is the photos as
        they are."""
        if views <= 1:
            return self.features(estimator, photo_set), self.line_features(
                estimator, photo_set, crops
            )
        computed: dict[str, Any] = {}

        def compute(part: int) -> np.ndarray:
            if not computed:
                whole, tiles = estimator.transform_views(photo_set.photos(), views, crops)
                computed.update(whole=whole, tiles=tiles)
            return computed["whole" if part == 0 else "tiles"]

        whole = self._cached(f"{estimator.feature_key}-views{views}", photo_set, lambda: compute(0))
        if crops <= 1:
            return whole, None
        key = f"{estimator.crop_feature_key(crops)}-views{views}"
        return whole, self._cached(key, photo_set, lambda: compute(1))

    def _cached(
        self, feature_key: str, photo_set: PhotoSet, compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        key = (feature_key, photo_set.content_key)
        if key in self._memory:
            return self._memory[key]
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / feature_key / f"{photo_set.content_key}.npy"
            if path.exists():
                cached = np.load(path)
                if len(cached) % max(len(photo_set.frame), 1) == 0:
                    self._memory[key] = cached
                    return cached
        features = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, features)
        self._memory[key] = features
        return features


# -- steps ---------------------------------------------------------------------------------------
def load_data(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Simulated training and evaluation photos, and the real sets when present."""
    data_params = params["data"]
    seed = int(data_params["seed"])
    train = simulated_set(
        "sim_train",
        int(data_params["sim_photos"]),
        int(data_params["sim_seed"]),
        float(data_params["none_share"]),
    )
    sim_eval = simulated_set(
        "sim_eval", int(data_params["sim_eval_photos"]), int(data_params["sim_eval_seed"]), None
    )
    data: dict[str, Any] = {
        "train_sets": [train],
        "sim_eval": sim_eval,
        "store": FeatureStore(settings.artifacts_dir / CACHE_FOLDER),
        "params": data_params,
        "fewshot_line": params.get("fewshot_line") or {},
    }
    per_class = data_params.get("real_per_class")
    holdout_per_class = data_params.get("real_holdout_per_class")
    for source in available_sources(settings.datasets_dir):
        full = real_set(settings.datasets_dir, source)
        frame = full.frame
        train_rows = subsample(frame[frame["split"] == "train"], per_class, seed)
        held_rows = subsample(frame[frame["split"] == "holdout"], holdout_per_class, seed)
        name = REAL_SETS[source]
        train_mask = frame["path"].isin(train_rows["path"]).to_numpy()
        held_mask = frame["path"].isin(held_rows["path"]).to_numpy()
        data["train_sets"].append(full.subset(train_mask, f"real_{name}_train"))
        data[f"real_{name}"] = full.subset(held_mask, f"real_{name}")
    return data


def _weights(photo_set: PhotoSet, data_params: dict[str, Any]) -> np.ndarray:
    weight = 1.0 if photo_set.name.startswith("sim") else float(data_params["real_weight"])
    return np.full(len(photo_set.frame), weight)


def training_arrays(
    estimator: DamageClassifier, data: dict[str, Any], exclude: str | None = None
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Features, labels and weights of every training set (except the one named `exclude`)."""
    store: FeatureStore = data["store"]
    sets = [s for s in data["train_sets"] if s.name != exclude]
    features = np.concatenate([store.features(estimator, s) for s in sets])
    labels = [str(v) for s in sets for v in s.frame["label"]]
    weights = np.concatenate([_weights(s, data["params"]) for s in sets])
    return features, labels, weights


def line_options(params: dict[str, Any], line: str) -> dict[str, Any]:
    """`fit_line_features` options of `line` from `params["lines"]` (crops, prior, C, views,
    test_views, features: the encoder features the line reads, `feature_set`)."""
    options = dict((params.get("lines") or {}).get(line) or {})
    known = {"crops", "prior", "C", "views", "test_views", "features"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"lines.{line}: unknown option(s) {unknown}; use {', '.join(sorted(known))}"
        )
    return {
        "crops": int(options.get("crops", 1)),
        "prior": bool(options.get("prior", False)),
        "C": None if options.get("C") is None else float(options["C"]),
        "views": int(options.get("views", 1)),
        "test_views": int(options.get("test_views", 1)),
        "feature_set": None if options.get("features") is None else str(options["features"]),
    }


def own_features(estimator: DamageClassifier, options: dict[str, Any]) -> dict[str, Any]:
    """Line options for `estimator`: a line's `features` choose among the ImageNet and the
    tuned features of an encoder with a tuned branch; an estimator without one (the baseline)
    has only its own feature set, which its lines read too."""
    if not estimator.encoder.has_branch:
        return {**options, "feature_set": None}
    return options


def fit_lines(
    estimator: DamageClassifier,
    data: dict[str, Any],
    params: dict[str, Any],
    progress: Callable[[str], None],
) -> None:
    """Fit the heads of every product line in `params["lines"]` whose training set is loaded
    and holds at least `params["line_min_photos"]` photos (fewer: the general heads serve it)."""
    store: FeatureStore = data["store"]
    sets = {s.name: s for s in data["train_sets"]}
    for line in params.get("lines") or {}:
        if line not in LINE_SETS:
            raise ValueError(f"lines: unknown product line {line!r}; known: {sorted(LINE_SETS)}")
        train_name, _ = LINE_SETS[line]
        if train_name not in sets:
            continue
        photo_set = sets[train_name]
        if len(photo_set.frame) < int(params.get("line_min_photos", 100)):
            progress(f"line {line}: {len(photo_set.frame)} photos, too few for heads of its own")
            continue
        options = own_features(estimator, line_options(params, line))
        views = options.pop("views")
        progress(f"line {line}: fitting heads on {len(photo_set.frame):,} photos x {views} views")
        features, crop_features = store.view_features(estimator, photo_set, views, options["crops"])
        class_prior = None
        if "world_label" in photo_set.frame:  # renders rebalanced: serve at the world's mix
            class_prior = photo_set.frame["world_label"].value_counts(normalize=True).to_dict()
        estimator.fit_line_features(
            line,
            features,
            photo_set.frame["label"].astype(str).tolist() * views,
            crop_features,
            class_prior=class_prior,
            groups=np.tile(np.arange(len(photo_set.frame)), views),
            **options,
        )


def _prefixed(progress: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: progress(f"{prefix}: {message}")


def finetune(
    estimator: DamageClassifier, data: dict[str, Any], progress: Callable[[str], None]
) -> None:
    """Fine-tune the estimator's encoder on the training sets named in `data.finetune_sets`
    (default: the simulated renders). Held-out splits are never in a training set; leave
    casting out, so its few-shot protocol still meets a line the encoder never saw."""
    wanted = list(data["params"].get("finetune_sets") or ["sim_train"])
    sets = [s for s in data["train_sets"] if s.name in wanted]
    if not sets:
        raise ValueError(f"data.finetune_sets: none of {wanted} is loaded")
    photos = [photo for s in sets for photo in s.photos()]
    labels = [str(v) for s in sets for v in s.frame["label"]]
    weights = np.concatenate([_weights(s, data["params"]) for s in sets])
    progress(
        f"fine-tuning the encoder's last blocks on {len(photos):,} photos "
        f"({estimator.finetune_epochs} epochs)"
    )
    estimator.finetune(photos, labels, weights, progress=progress)


def fit_models(
    data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the baseline and the candidate on the same cached features: general heads on all
    sources, then each product line's heads."""
    models: dict[str, Any] = {}
    for name in ("baseline", "efficientnet"):
        estimator = DamageClassifier(**(params.get(name) or {}))
        if estimator.finetune_epochs > 0:
            finetune(estimator, data, _prefixed(progress, name))
        sizes = ", ".join(f"{s.name} {len(s.frame):,}" for s in data["train_sets"])
        progress(f"{name}: encoding photos ({sizes})")
        features, labels, weights = training_arrays(estimator, data)
        progress(f"{name}: fitting heads on {len(labels):,} photos")
        estimator.fit_features(features, labels, weights)
        fit_lines(estimator, data, params, _prefixed(progress, name))
        models[name] = estimator
    return models


def binary_metrics(truth_damaged: np.ndarray, p_damage: np.ndarray, prefix: str) -> dict[str, Any]:
    """Damage/no-damage accuracy at 0.5, ROC-AUC, Brier score and binary ECE."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    metrics = {
        f"{prefix}.damage_accuracy": float(((p_damage >= 0.5) == truth_damaged).mean()),
        f"{prefix}.damage_brier": float(brier_score_loss(truth_damaged, p_damage)),
        f"{prefix}.damage_ece": binary_ece(truth_damaged, p_damage),
    }
    if len(set(truth_damaged.tolist())) == 2:
        metrics[f"{prefix}.damage_roc_auc"] = float(roc_auc_score(truth_damaged, p_damage))
    return metrics


def binary_ece(truth: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of a probability of the positive class (equal-width bins)."""
    bins = np.clip((probability * n_bins).astype(int), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(truth[mask].mean() - probability[mask].mean())
    return float(ece)


def fewshot_metrics(estimator: DamageClassifier, data: dict[str, Any]) -> dict[str, float]:
    """Casting onboarded as a new product line: general heads refitted with `estimator`'s recipe
    on everything but the casting photos (the prior), then the casting line's heads fitted on
    only `fewshot_per_class` casting photos per class (options: params `fewshot_line`, as for
    `lines`); scored on the casting holdout, beside the
    general heads refitted with the few photos mixed in (the recipe before product lines)."""
    from sklearn.metrics import roc_auc_score

    data_params = data["params"]
    per_class = int(data_params["fewshot_per_class"])
    store: FeatureStore = data["store"]
    casting_train = next(s for s in data["train_sets"] if s.name == "real_casting_train")
    few_rows = subsample(casting_train.frame, per_class, int(data_params["seed"]) + 1)
    mask = casting_train.frame["path"].isin(few_rows["path"]).to_numpy()
    few = casting_train.subset(mask, f"real_casting_fewshot_{per_class}")
    few_labels = few.frame["label"].astype(str).tolist()
    features, labels, weights = training_arrays(estimator, data, exclude="real_casting_train")
    few_features = store.features(estimator, casting_train)[mask]
    options = line_options({"lines": {"fewshot": data["fewshot_line"]}}, "fewshot")
    options = own_features(estimator, options)
    crops, views = options["crops"], options.pop("views")
    view_features, view_crops = store.view_features(estimator, few, views, crops)
    holdout: PhotoSet = data["real_casting"]
    held_features = store.features(estimator, holdout)
    held_crops = store.line_features(estimator, holdout, crops)
    truth = holdout.frame["label"].ne(DamageType.NONE.value).to_numpy()

    prior = DamageClassifier(**estimator.get_params()).fit_features(features, labels, weights)
    prior.fit_line_features(
        "casting",
        view_features,
        few_labels * views,
        view_crops,
        groups=np.tile(np.arange(len(few_labels)), views),
        **options,
    )
    p_line = 1.0 - prior.predict_proba_features(held_features, "casting", held_crops)[:, 0]
    mixed = DamageClassifier(**estimator.get_params()).fit_features(
        np.concatenate([features, few_features]),
        labels + few_labels,
        np.concatenate([weights, _weights(few, data_params)]),
    )
    p_mixed = 1.0 - mixed.predict_proba_features(held_features)[:, 0]
    return {
        "real_casting.fewshot_roc_auc": float(roc_auc_score(truth, p_line)),
        "real_casting.fewshot_accuracy": float(((p_line >= 0.5) == truth).mean()),
        "real_casting.general.fewshot_roc_auc": float(roc_auc_score(truth, p_mixed)),
        "real_casting.general.fewshot_accuracy": float(((p_mixed >= 0.5) == truth).mean()),
        "real_casting.fewshot_train_photos": float(len(few.frame)),
    }


def set_metrics(
    estimator: DamageClassifier,
    photo_set: PhotoSet,
    store: FeatureStore,
    name: str,
    product_line: str | None,
) -> tuple[dict[str, float], dict[str, Any], np.ndarray, list[str]]:
    """Metrics of one evaluation set scored by `product_line`'s heads (None: the general
    heads): damage accuracy / ROC-AUC / calibration; macro-F1 over the six classes when every
    photo is typed; type accuracy of damaged photos; damage accuracy per defect folder."""
    line = estimator.line(product_line)
    if line is not None and line.test_views > 1:
        # scored as served: the mean over the line's turned/mirrored copies
        features, crops = store.view_features(estimator, photo_set, line.test_views, line.crops)
        proba = estimator.predict_proba_views(features, line.test_views, product_line, crops)
    else:
        crops = store.line_features(estimator, photo_set, line.crops) if line else None
        proba = estimator.predict_proba_features(
            store.features(estimator, photo_set), product_line, crops
        )
    labels = photo_set.frame["label"].astype(str).to_numpy()
    truth_damaged = labels != DamageType.NONE.value
    metrics = binary_metrics(truth_damaged, 1.0 - proba[:, 0], name)
    metrics[f"{name}.photos"] = float(len(labels))
    predicted = estimator.damage_types(proba)
    summary: dict[str, Any] = {}
    typed = np.isin(labels, CLASSES)
    if typed.all():
        summary = classification_summary(labels, predicted, labels=CLASSES)
        metrics[f"{name}.macro_f1"] = float(summary["macro_f1"])
        metrics[f"{name}.accuracy"] = float(summary["accuracy"])
    damaged_typed = typed & truth_damaged
    if damaged_typed.any():
        # type right among truly damaged photos, given the model calls them damaged at all
        likeliest = np.asarray(DAMAGE_TYPES)[proba[:, 1:].argmax(axis=1)]
        metrics[f"{name}.type_accuracy_damaged"] = float(
            (likeliest[damaged_typed] == labels[damaged_typed]).mean()
        )
    if "defect" in photo_set.frame:
        frame = photo_set.frame.assign(p=1.0 - proba[:, 0])
        for defect, group in frame.groupby("defect"):
            hit = (group["p"] >= 0.5) == group["label"].ne(DamageType.NONE.value)
            metrics[f"{name}.{defect}.damage_accuracy"] = float(hit.mean())
    return metrics, summary, labels, predicted


def evaluate(estimator: DamageClassifier, data: dict[str, Any]) -> Evaluation:
    """Per source, by its product line's heads when the estimator has them (`<set>.<metric>`,
    the acceptance figures) and by the general heads (`<set>.general.<metric>`; the plain names
    when the line has no heads); on real casting also the few-shot onboarding protocol."""
    store: FeatureStore = data["store"]
    evaluation = Evaluation(metrics={})
    set_lines = {eval_set: line for line, (_, eval_set) in LINE_SETS.items()}
    for name in EVAL_SETS:
        if name not in data:
            continue
        photo_set: PhotoSet = data[name]
        line = set_lines[name] if estimator.line(set_lines[name]) is not None else None
        metrics, summary, labels, predicted = set_metrics(estimator, photo_set, store, name, line)
        evaluation.metrics.update(metrics)
        if line is not None:
            general, *_ = set_metrics(estimator, photo_set, store, f"{name}.general", None)
            evaluation.metrics.update(general)
        if summary:
            evaluation.reports[name] = summary
            evaluation.figures[f"confusion_{name}"] = confusion_matrix_figure(
                labels, predicted, labels=CLASSES, title=name
            )
    if "real_casting" in data and int(data["params"].get("fewshot_per_class") or 0) > 0:
        evaluation.metrics.update(fewshot_metrics(estimator, data))
    return evaluation


class DamageFamily:
    """The photo damage model family for the pipeline runner."""

    name = "damage"

    def load_data(self, params: dict[str, Any], settings: Settings) -> dict[str, Any]:
        """See `load_data`."""
        return load_data(params, settings)

    def fingerprint(self, data: dict[str, Any]) -> str:
        """Content hash of every photo set's identity and labels."""
        sets = [*data["train_sets"], *(data[k] for k in EVAL_SETS if k in data)]
        frame = pd.DataFrame({"set": [s.name for s in sets], "key": [s.content_key for s in sets]})
        return frame_fingerprint(frame)

    def fit(
        self, data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
    ) -> dict[str, Any]:
        """See `fit_models`."""
        return fit_models(data, params, progress)

    def evaluate(self, estimator: Any, data: dict[str, Any], settings: Settings) -> Evaluation:
        """See `evaluate`."""
        return evaluate(estimator, data)

    def loggable(self, estimator: Any, workdir: Path) -> LoggableModel:
        """The estimator saved as a directory artifact behind the `DamageModel` pyfunc."""
        from training.simulation.photos import PhotoSpec, render_photo_jpeg

        directory = save_estimator(estimator, workdir / "estimator")
        photo = render_photo_jpeg(
            PhotoSpec("housing", (170, 190, 200), DamageType.CRACK_BREAK, 0.7, seed=7)
        )
        return LoggableModel(
            python_model=DamageModel(),
            artifacts={"estimator": str(directory)},
            input_example=pd.DataFrame({"image": [photo]}),
            signature=DAMAGE_SIGNATURE,
        )

    def load_estimator(self, model_uri: str) -> Any:
        """The fitted estimator inside a logged damage model."""
        wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
        return wrapper.estimator
