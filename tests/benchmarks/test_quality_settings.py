"""`benchmarks.quality --set`: a variant of prodcat's config named on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import quality  # noqa: E402
from prodcat.config import Config  # noqa: E402


def test_settings_become_nested_overrides_with_yaml_values() -> None:
    overrides = quality.config_overrides(
        ["model.seed=1", "text.embedding_fields=[title, tags]", "text.encoder.max_tokens=64"])
    assert overrides == {"model": {"seed": 1},
                         "text": {"embedding_fields": ["title", "tags"], "encoder": {"max_tokens": 64}}}
    config = Config.model_validate(overrides)
    assert config.model.seed == 1
    assert config.text.embedding_fields == ("title", "tags")
    assert config.text.encoder.max_tokens == 64


@pytest.mark.parametrize("setting", ["seed", "model.seed", "model..seed=1", "=1"])
def test_a_setting_without_section_key_and_value_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        quality.config_overrides([setting])


def test_a_key_under_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="already set to a value"):
        quality.config_overrides(["model=3", "model.seed=1"])


def test_a_bad_setting_on_the_command_line_exits_with_usage_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--dataset", "mwpd", "--set", "seed"])
    assert exit_info.value.code == 2
    assert "--set 'seed': expected KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("setting, message", [("seed=1", "--set seed: Extra inputs are not permitted"),
                                              ("model.seed=one", "--set model.seed: Input should be a valid integer")])
def test_a_setting_the_config_does_not_accept_is_refused_before_training(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quality.config_overrides([setting])
