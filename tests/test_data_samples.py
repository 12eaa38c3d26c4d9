"""The committed sample is what the simulator makes today, and it is valid."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from features.schema import ReturnCase
from training.cli import app

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_sample_is_up_to_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["samples", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    committed = (SAMPLES / "cases.jsonl").read_text(encoding="utf-8")
    assert (tmp_path / "cases.jsonl").read_text(encoding="utf-8") == committed, (
        "data_samples/ is stale: run `make samples`"
    )
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == sorted(
        p.name for p in (SAMPLES / "photos").iterdir()
    )


def test_sample_cases_and_photos_are_valid() -> None:
    lines = (SAMPLES / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    assert 200 <= len(lines) <= 500
    uris = []
    scenarios = set()
    for line in lines:
        record = json.loads(line)
        case = ReturnCase.model_validate(record["case"])
        uris.extend(photo.uri for photo in case.request.photos)
        scenarios.add(record["truth"]["abuse_scenario"])
    assert 24 <= len(uris) <= 60
    assert len(scenarios) == 8  # NONE and every planted scenario
    for uri in uris:
        assert uri is not None
        with Image.open(SAMPLES / uri) as image:
            assert image.format == "JPEG" and image.size == (256, 256)
