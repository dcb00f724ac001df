"""Config settings named on a command line: `section.key=value`, laid over a config.

`prodcat run --set`, `benchmarks.quality --set` and `prodcat submit --param` take them. The value is YAML, so
numbers, booleans, lists and nulls keep their type (`model.seed=1`, `text.fields=[title, tags]`)
and JSON values read the same. A setting is checked against the config before anything runs: a
typo should fail in a second with the setting's name, not after an hour of training.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from prodcat.config import Config
from prodcat.config.base import validation_problems


def parse_setting(item: str, example: str = "model.seed=1") -> tuple[str, Any]:
    """`KEY=VALUE` as (KEY, VALUE read as YAML). A value YAML reads as a date or a time (which
    JSON cannot carry) or cannot read stays the text it was."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or not all(key.split(".")):
        raise ValueError(f"{item!r}: expected KEY=VALUE, e.g. {example}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return key, text
    return key, text if isinstance(value, (datetime.date, datetime.time)) else value


def nested_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as the nested mapping a config is written as: {"model.seed": 1} ->
    {"model": {"seed": 1}}."""
    nested: dict[str, Any] = {}
    for key, value in settings.items():
        path = key.split(".")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{key}: {part} is already set to a value")
        node[path[-1]] = value
    return nested


def with_settings(config: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """`config` (a config as a mapping) with the nested `settings` laid over it, validated:
    settings the config does not have, or values it does not accept, are one ValueError naming each.
    Returns the validated config as JSON-ready data."""
    def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            both_mappings = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
            out[key] = merged(out[key], value) if both_mappings else value
        return out

    try:
        return Config.model_validate(merged(config, settings)).model_dump(mode="json")
    except ValidationError as err:
        raise ValueError(validation_problems(err)) from None


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """`section.key=value` strings as nested settings, checked against the default config."""
    nested = nested_settings(dict(parse_setting(item) for item in items))
    with_settings({}, nested)
    return nested


def config_with_settings(config: Config, items: Sequence[str]) -> Config:
    """`config` with `section.key=value` strings laid over it: a run's settings from its command
    line win over its config file. A wrong setting is a ValueError naming it."""
    if not items:
        return config
    try:
        settings = nested_settings(dict(parse_setting(item) for item in items))
        return Config.model_validate(with_settings(config.model_dump(mode="json"), settings))
    except ValueError as err:
        raise ValueError(f"--set {err}") from None
