"""Config settings named on a command line (`prodcat.config.settings`): what `prodcat run --set`,
`benchmarks.quality --set` and `prodcat submit --param` read."""

from __future__ import annotations

import pytest

from prodcat.config import Config
from prodcat.config.settings import nested_settings, parse_setting, parse_settings, with_settings


@pytest.mark.parametrize("item, expected", [
    ("model.seed=1", ("model.seed", 1)),
    ("thresholds.per_level=[0.5, 0.4]", ("thresholds.per_level", [0.5, 0.4])),  # JSON reads the same
    ("text.fields=[title, tags]", ("text.fields", ["title", "tags"])),
    ("model.loss_weights=null", ("model.loss_weights", None)),
    ("data_root=gs://bucket/path", ("data_root", "gs://bucket/path")),
    ("run_date=2026-12-07", ("run_date", "2026-12-07")),  # not a date object: JSON could not send it
    ("note=a: [b", ("note", "a: [b")),  # not YAML: the text itself
])
def test_a_setting_is_a_key_and_a_yaml_value(item: str, expected: tuple) -> None:
    assert parse_setting(item) == expected


@pytest.mark.parametrize("item", ["seed", "=1", "model..seed=1", "model.=1"])
def test_a_setting_without_a_key_and_a_value_is_refused(item: str) -> None:
    with pytest.raises(ValueError, match="expected KEY=VALUE, e.g. model.seed=1"):
        parse_setting(item)


def test_dotted_keys_nest_and_a_key_under_a_value_is_refused() -> None:
    assert nested_settings({"model.seed": 1, "text.encoder.max_tokens": 64, "model.epochs": 3}) == {
        "model": {"seed": 1, "epochs": 3}, "text": {"encoder": {"max_tokens": 64}}}
    with pytest.raises(ValueError, match="model.seed: model is already set to a value"):
        nested_settings({"model": 3, "model.seed": 1})


def test_settings_are_laid_over_a_config_and_validated() -> None:
    base = Config().model_dump(mode="json")
    merged = with_settings(base, {"model": {"epochs": 3}, "thresholds": {"per_level": [0.5]}})
    assert merged["model"]["epochs"] == 3
    assert merged["model"]["seed"] == base["model"]["seed"]  # the rest of the section stays
    assert merged["thresholds"]["per_level"] == [0.5]
    with pytest.raises(ValueError, match="^model.epoch: Extra inputs are not permitted$"):
        with_settings(base, {"model": {"epoch": 3}})
    with pytest.raises(ValueError, match="^model.epochs: Input should be greater than or equal to 1$"):
        with_settings(base, {"model": {"epochs": 0}})
    with pytest.raises(ValueError, match="^text.field: Extra inputs are not permitted; "
                                         "model.epochs: Input should be greater than or equal to 1$"):
        with_settings(base, {"model": {"epochs": 0}, "text": {"field": ["title"]}})


def test_parse_settings_checks_against_the_default_config() -> None:
    assert parse_settings(["model.seed=2", "text.embedding_fields=[title]"]) == {
        "model": {"seed": 2}, "text": {"embedding_fields": ["title"]}}
    with pytest.raises(ValueError, match="^seed: Extra inputs are not permitted$"):
        parse_settings(["seed=1"])
