from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from chalicelib.config import CHALICE_CONFIG, Settings, env_name, settings_from, stage_environment

STAGES = ("local", "dev", "prod")


def test_environment_beats_file_beats_default() -> None:
    file_env = {"IMAGES_BUCKET": "from-file", "RESULTS_BUCKET": "file-results"}
    settings = settings_from({"IMAGES_BUCKET": "from-env", "MAX_RECEIVE_COUNT": "7"}, file_env)
    assert settings.images_bucket == "from-env"
    assert settings.results_bucket == "file-results"
    assert settings.max_receive_count == 7
    assert settings.jobs_queue == Settings().jobs_queue


def test_import_safe_with_nothing_set(tmp_path: Path) -> None:
    assert stage_environment("local", tmp_path / "missing.json") == {}
    assert settings_from({}, {}) == Settings()


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_names_every_setting(stage: str) -> None:
    env = stage_environment(stage)
    missing = [env_name(f.name) for f in fields(Settings) if env_name(f.name) not in env]
    assert missing == []
    assert env["STAGE"] == stage


@pytest.mark.parametrize("stage", STAGES)
def test_stage_resource_names_are_distinct(stage: str) -> None:
    settings = settings_from({}, stage_environment(stage))
    names = (
        settings.buckets + list(settings.queues_with_dlq) + list(settings.queues_with_dlq.values())
    )
    assert len(names) == len(set(names))


def test_local_stage_matches_the_import_defaults() -> None:
    # `import app` with nothing set must bind the same names the local stage uses.
    assert settings_from({}, stage_environment("local")) == Settings()


def test_config_file_is_valid_chalice_config() -> None:
    document = json.loads(CHALICE_CONFIG.read_text())
    assert document["version"] == "2.0" and set(STAGES) <= set(document["stages"])


@pytest.mark.parametrize(
    "name, raw, says",
    [
        ("MAX_PREDICT_ROWS", "1e3", "MAX_PREDICT_ROWS must be a whole number"),
        ("MAX_PREDICT_ROWS", "-5", "MAX_PREDICT_ROWS must not be negative"),
        ("CELL_COUNTER_TIMEOUT", "nan", "CELL_COUNTER_TIMEOUT must be a whole number"),
        ("FACE_SAMPLE_HZ", "inf", "FACE_SAMPLE_HZ must be a finite number"),
        ("FACE_PIXEL_RATE", "-1", "FACE_PIXEL_RATE must not be negative"),
    ],
)
def test_a_bad_numeric_setting_names_its_variable(name: str, raw: str, says: str) -> None:
    # before: int()'s "invalid literal for int() with base 10: '1e3'" at every cold start,
    # naming no variable; a negative limit was taken (every /predict list then a 413)
    with pytest.raises(ValueError, match=says):
        settings_from({name: raw}, {})
    assert settings_from({"MAX_PREDICT_ROWS": " 100 "}, {}).max_predict_rows == 100
