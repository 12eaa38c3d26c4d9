"""`triage train damage` end to end (tiny data), batch predictions, and the real-data splits."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from pipeline_runs import train_fast
from typer.testing import CliRunner

from features.codes import DamageType
from models.damage import DamageClassifier
from models.registry import Registry
from models.settings import Settings
from training.cli import app
from training.pipelines.damage import load_data
from training.pipelines.runner import load_params
from training.real_images import CASTING, TILES, load_real_photos
from training.simulation.photos import PhotoSpec, render_photo_jpeg

runner = CliRunner()

TINY = {
    "data": {
        "sim_photos": 180,
        "sim_eval_photos": 90,
        "real_per_class": 16,
        "real_holdout_per_class": 12,
        "fewshot_per_class": 8,
    },
    "efficientnet": {"hidden_units": 64},
}


def tiny_params(tmp_path: Path) -> Path:
    """The packaged parameters with the fast profile shrunk further (same code paths)."""
    from importlib import resources

    params = yaml.safe_load(
        resources.files("training").joinpath("conf/damage.yml").read_text("utf-8")
    )
    fast = params["profiles"]["fast"]
    fast["data"].update(TINY["data"])
    params["efficientnet"].update(TINY["efficientnet"])
    path = tmp_path / "damage.yml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One tiny fast-profile run shared by the tests below."""
    root = tmp_path_factory.mktemp("damage")
    return train_fast(root, "damage", tiny_params(root))


@pytest.mark.slow
def test_run_is_tracked_gated_and_promoted(
    trained: dict[str, object], env_settings: Settings
) -> None:
    assert "promoted to champion" in str(trained["output"])
    assert Registry(env_settings).champion("damage") == "1"
    mlflow.set_tracking_uri(env_settings.tracking_uri())
    run = mlflow.search_runs(experiment_names=["damage"], output_format="list")[0]
    metrics = run.data.metrics
    for name in ("baseline", "efficientnet"):
        for key in ("sim_eval.macro_f1", "sim_eval.damage_roc_auc", "sim_eval.damage_ece"):
            assert f"{name}.{key}" in metrics
    assert metrics["efficientnet.sim_eval.damage_roc_auc"] >= 0.7
    if env_settings.datasets_dir.joinpath(CASTING).is_dir():
        assert metrics["efficientnet.real_casting.damage_roc_auc"] >= 0.8
        assert "efficientnet.real_casting.fewshot_roc_auc" in metrics
        assert "efficientnet.real_casting.general.fewshot_roc_auc" in metrics
        assert "efficientnet.real_tiles.damage_roc_auc" in metrics
    # the registered pyfunc answers photo bytes; serving unwraps the native estimator
    model = mlflow.pyfunc.load_model("models:/damage@champion")
    photo = render_photo_jpeg(PhotoSpec("gear", (90, 90, 100), DamageType.CRACK_BREAK, 0.9, 5))
    frame = model.predict(pd.DataFrame({"image": [photo, photo]}))
    assert list(frame.columns) == ["damage_probability", "damage_type", "type_probabilities"]
    assert len(frame) == 2 and frame["damage_probability"].between(0, 1).all()
    estimator = model.unwrap_python_model().estimator
    assert isinstance(estimator, DamageClassifier)
    # the renders are a product line of their own; its figures sit beside the general heads'
    assert "simulated" in estimator.product_lines
    # the renders' line reads the encoder's fine-tuned branch; the real lines the ImageNet one
    assert estimator.finetune_branch and "-branch-" in estimator.feature_key
    assert estimator.line("simulated").feature_set == "tuned"  # type: ignore[union-attr]
    for real_line in ("casting", "tiles"):
        if real_line in estimator.product_lines:
            assert estimator.line(real_line).feature_set == "all"  # type: ignore[union-attr]
    assert "efficientnet.sim_eval.general.macro_f1" in metrics
    line = estimator.assess([photo], product_line="simulated")[0]
    assert 0.0 <= line.damage_probability <= 1.0
    # features were cached for the next run
    cache = Path(env_settings.artifacts_dir) / "cache" / "damage-features"
    assert any(cache.rglob("*.npy"))


def test_renders_from_a_pool_are_the_bytes_rendered_in_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training.pipelines import damage
    from training.pipelines.damage import render_frame, simulated_photos

    frame = simulated_photos(12, 5, 0.34).head(6)
    monkeypatch.setattr(damage, "POOL_MIN_PHOTOS", 2)
    assert render_frame(frame, workers=2) == render_frame(frame, workers=1)


@pytest.mark.slow
def test_second_run_is_compared_with_the_champion(
    trained: dict[str, object], env_settings: Settings
) -> None:
    result = runner.invoke(
        app, ["train", "damage", "--profile", "fast", "--params", str(trained["params"])]
    )
    assert result.exit_code == 0, result.output
    mlflow.set_tracking_uri(env_settings.tracking_uri())
    latest = mlflow.search_runs(experiment_names=["damage"], output_format="list")[0]
    assert "champion.sim_eval.damage_roc_auc" in latest.data.metrics
    assert "gate" in latest.data.tags


@pytest.mark.slow
def test_predict_damage_writes_one_line_per_photo(
    trained: dict[str, object], env_settings: Settings, tmp_path: Path
) -> None:
    photo = render_photo_jpeg(
        PhotoSpec("panel", (120, 60, 150), DamageType.DENT_DEFORMATION, 0.9, 3)
    )
    (tmp_path / "ok.jpg").write_bytes(photo)
    (tmp_path / "notes.jpg").write_text("not a photo")
    (tmp_path / "empty.png").write_bytes(b"")
    lines = [
        {"id": "ok", "path": "ok.jpg"},
        {"id": "text", "path": "notes.jpg"},
        {"id": "empty", "path": str(tmp_path / "empty.png")},
        {"id": "gone", "path": "missing.webp"},
    ]
    source = tmp_path / "photos.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "preds.jsonl"
    result = runner.invoke(app, ["predict", "damage", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    preds = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert list(preds) == ["ok", "text", "empty", "gone"]
    ok = preds["ok"]
    assert set(ok) == {"id", "damage_probability", "damage_type", "type_probabilities"}
    assert 0.0 <= ok["damage_probability"] <= 1.0
    assert ok["damage_type"] in {t.value for t in DamageType}
    assert "not a recognised image" in preds["text"]["error"]
    assert "empty" in preds["empty"]["error"]
    assert "cannot read" in preds["gone"]["error"]


def test_predict_damage_rejects_bad_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "photos.jsonl"
    source.write_text('{"id": "a"}\n')
    result = runner.invoke(
        app, ["predict", "damage", "--input", str(source), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "missing field(s) path" in result.output


def test_real_holdout_is_fixed_and_never_trained_on(
    datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for source in (CASTING, TILES):
        first = load_real_photos(datasets_dir, source)
        again = load_real_photos(datasets_dir, source)
        assert first.equals(again)
        share = (first["split"] == "holdout").mean()
        assert 0.2 <= share <= 0.3
        assert set(first["label"]) >= {DamageType.NONE.value}
    monkeypatch.setenv("TRIAGE_DATASETS_DIR", str(datasets_dir))
    params = load_params("damage", "fast")
    params["data"].update({"sim_photos": 10, "sim_eval_photos": 10})
    data = load_data(params, Settings(artifacts_dir=tmp_path, datasets_dir=datasets_dir))
    trained_paths = {p for s in data["train_sets"] if "path" in s.frame for p in s.frame["path"]}
    for name in ("real_casting", "real_tiles"):
        held = set(data[name].frame["path"])
        assert held and not held & trained_paths
        assert set(data[name].frame["source"]) <= {CASTING, TILES}
