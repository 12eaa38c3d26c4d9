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
candidate. Evaluation per source; for the real casting set also the few-shot protocol (only
`fewshot_per_class` casting photos per class in training, everything else kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
REAL_SETS = {CASTING: "casting", TILES: "tiles"}
CACHE_FOLDER = "cache/damage-features"


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
        return PhotoSet(name, frame, _key(self.content_key, name, len(frame)), self.read, photos)


# -- simulated photos ----------------------------------------------------------------------------
def simulated_photos(n_photos: int, seed: int, none_share: float | None) -> pd.DataFrame:
    """Photo specs of a simulated world (shape, colour, damage type, severity, seed).

    `none_share` rebalances the damage types: that share undamaged, the rest spread evenly over
    the five damage types, severities drawn from the world's own damaged photos. None keeps the
    world's natural mix (for evaluation).
    """
    world = build_world(max(n_photos, 500), n_photos, seed, load_world_config())
    photos = world.photos.reset_index(drop=True)
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
            "source": "simulated",
        }
    )


def render_frame(frame: pd.DataFrame) -> list[bytes]:
    """Render the JPEG bytes of each simulated photo spec in `frame`."""
    from training.simulation.photos import PhotoSpec, render_photo_jpeg

    return [
        render_photo_jpeg(
            PhotoSpec(
                shape=str(row.shape),
                color=(int(row.color_r), int(row.color_g), int(row.color_b)),
                damage_type=DamageType(row.label),
                severity=float(row.severity),
                seed=int(row.seed),
            )
        )
        for row in frame.itertuples(index=False)
    ]


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
        key = (estimator.feature_key, photo_set.content_key)
        if key in self._memory:
            return self._memory[key]
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / estimator.feature_key / f"{photo_set.content_key}.npy"
            if path.exists():
                cached = np.load(path)
                if len(cached) == len(photo_set.frame):
                    self._memory[key] = cached
                    return cached
        features = estimator.transform(photo_set.photos())
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


def fit_models(
    data: dict[str, Any], params: dict[str, Any], progress: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the baseline and the candidate on the same cached features."""
    models: dict[str, Any] = {}
    for name in ("baseline", "efficientnet"):
        estimator = DamageClassifier(**(params.get(name) or {}))
        sizes = ", ".join(f"{s.name} {len(s.frame):,}" for s in data["train_sets"])
        progress(f"{name}: encoding photos ({sizes})")
        features, labels, weights = training_arrays(estimator, data)
        progress(f"{name}: fitting heads on {len(labels):,} photos")
        models[name] = estimator.fit_features(features, labels, weights)
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
    """Casting as a new product line: refit `estimator`'s recipe with only a few casting photos
    per class (plus every other training set) and score the casting holdout."""
    from sklearn.metrics import roc_auc_score

    data_params = data["params"]
    per_class = int(data_params["fewshot_per_class"])
    store: FeatureStore = data["store"]
    casting_train = next(s for s in data["train_sets"] if s.name == "real_casting_train")
    few_rows = subsample(casting_train.frame, per_class, int(data_params["seed"]) + 1)
    mask = casting_train.frame["path"].isin(few_rows["path"]).to_numpy()
    few = casting_train.subset(mask, "real_casting_fewshot")
    features, labels, weights = training_arrays(estimator, data, exclude="real_casting_train")
    few_features = store.features(estimator, casting_train)[mask]
    refit = DamageClassifier(**estimator.get_params())
    refit.fit_features(
        np.concatenate([features, few_features]),
        labels + few.frame["label"].astype(str).tolist(),
        np.concatenate([weights, _weights(few, data_params)]),
    )
    holdout: PhotoSet = data["real_casting"]
    proba = refit.predict_proba_features(store.features(estimator, holdout))
    truth = holdout.frame["label"].ne(DamageType.NONE.value).to_numpy()
    p_damage = 1.0 - proba[:, 0]
    return {
        "real_casting.fewshot_roc_auc": float(roc_auc_score(truth, p_damage)),
        "real_casting.fewshot_accuracy": float(((p_damage >= 0.5) == truth).mean()),
        "real_casting.fewshot_train_photos": float(len(few.frame)),
    }


def evaluate(estimator: DamageClassifier, data: dict[str, Any]) -> Evaluation:
    """Per source: damage accuracy / ROC-AUC / calibration; on simulated photos also the
    macro-F1 over the six damage types; on real tiles the type accuracy of defective photos;
    on real casting the few-shot protocol."""
    store: FeatureStore = data["store"]
    evaluation = Evaluation(metrics={})
    for name in EVAL_SETS:
        if name not in data:
            continue
        photo_set: PhotoSet = data[name]
        proba = estimator.predict_proba_features(store.features(estimator, photo_set))
        labels = photo_set.frame["label"].astype(str).to_numpy()
        truth_damaged = labels != DamageType.NONE.value
        evaluation.metrics.update(binary_metrics(truth_damaged, 1.0 - proba[:, 0], name))
        evaluation.metrics[f"{name}.photos"] = float(len(labels))
        predicted = estimator.damage_types(proba)
        typed = np.isin(labels, CLASSES)
        if typed.all():
            summary = classification_summary(labels, predicted, labels=CLASSES)
            evaluation.metrics[f"{name}.macro_f1"] = float(summary["macro_f1"])
            evaluation.metrics[f"{name}.accuracy"] = float(summary["accuracy"])
            evaluation.reports[name] = summary
            evaluation.figures[f"confusion_{name}"] = confusion_matrix_figure(
                labels, predicted, labels=CLASSES, title=name
            )
        damaged_typed = typed & truth_damaged
        if damaged_typed.any():
            # type right among truly damaged photos, given the model calls them damaged at all
            likeliest = np.asarray(DAMAGE_TYPES)[proba[:, 1:].argmax(axis=1)]
            evaluation.metrics[f"{name}.type_accuracy_damaged"] = float(
                (likeliest[damaged_typed] == labels[damaged_typed]).mean()
            )
        if "defect" in photo_set.frame:
            frame = photo_set.frame.assign(p=1.0 - proba[:, 0])
            for defect, group in frame.groupby("defect"):
                hit = (group["p"] >= 0.5) == group["label"].ne(DamageType.NONE.value)
                evaluation.metrics[f"{name}.{defect}.damage_accuracy"] = float(hit.mean())
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
