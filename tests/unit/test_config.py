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
