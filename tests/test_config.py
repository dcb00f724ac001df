"""The typed config: defaults equal the documented demo, strictness, path resolution."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from prodcat.config import Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def test_demo_yaml_spells_out_the_built_in_defaults() -> None:
    demo = load_config(REPO / "configs" / "demo.yaml")
    assert demo.model_dump(exclude={"output_dir"}) == Config().model_dump(exclude={"output_dir"})


def test_demo_section_is_the_generators_settings() -> None:
    from prodcat.config import DemoConfig

    demo = DemoConfig(n_products=500, seed=4, label_noise=0.1, one_off_sellers=0.0)
    synth = demo.synth_config()
    assert {name: getattr(synth, name) for name in DemoConfig.model_fields} == demo.model_dump()
    # The demo teaches: every kind of realism is on by default.
    assert all(getattr(DemoConfig(), knob) > 0 for knob in ("sibling_overlap", "short_titles", "one_off_sellers",
                                                            "label_noise"))


def test_relative_paths_are_resolved_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("data: ../data/products.jsonl\noutput_dir: out\ntaxonomy: https://example.com/t.txt\n", encoding="utf-8")
    config = load_config(path)
    assert config.data == str(tmp_path / "data" / "products.jsonl")
    assert config.output_path == tmp_path / "sub" / "out"
    assert config.taxonomy == "https://example.com/t.txt"


@pytest.mark.parametrize("text, message", [
    ("modle: {}\n", "modle"),
    ("split: {method: random}\n", "split.method"),
    ("thresholds: {per_level: [1.5]}\n", "thresholds.per_level"),
    ("thresholds: {per_level: []}\n", "thresholds.per_level"),
    ("pipeline_name: 'has space'\n", "pipeline_name"),
    ("pipeline_name: Upper_Case\n", "pipeline_name"),
    ("- a list\n", "mapping"),
    ("model: {epochs: [\n", "invalid YAML"),
])
def test_invalid_configs_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_threshold_for_level_repeats_the_last_value() -> None:
    thresholds = Config.model_validate({"thresholds": {"per_level": [0.5, 0.4]}}).thresholds
    assert [thresholds.for_level(k) for k in (1, 2, 3, 7)] == [0.5, 0.4, 0.4, 0.4]


def test_beam_args_use_every_core_when_asked() -> None:
    args = Config.model_validate({"beam": {"direct_num_workers": 0, "direct_running_mode": "multi_processing"}}).beam.args()
    assert "--direct_running_mode=multi_processing" in args
    assert "--direct_num_workers=0" in args, "0 lets Beam use every core of the machine it runs on"


@pytest.mark.parametrize("setting, replacement", [
    ("heads: flat", "flat leaf classifier"),
    ("heads: per_level", "one softmax head per taxonomy level"),
    ("memorizing_path_dropout: 0.5", "measured no gain"),
    ("loss: hinge", "cross-entropy"),
    ("hinge_margin: 3.0", "hinge loss"),
    ("wide_gain: 1.0", "learning rate"),
])
def test_a_removed_model_setting_is_a_one_line_error_naming_it_and_its_replacement(
        tmp_path: Path, setting: str, replacement: str) -> None:
    """A config file that still sets one, whatever the value: the setting no longer does anything."""
    path = tmp_path / "c.yaml"
    path.write_text(f"model: {{{setting}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    key = setting.split(":")[0]
    assert "\n" not in message and f"`{key}` was removed" in message and replacement in message, message


def test_a_config_dumped_before_the_removal_still_loads_when_it_asked_for_the_default() -> None:
    """An exported model's assets.extra/config.json holds every setting of its day."""
    dumped = Config().model_dump(mode="json")
    dumped["model"].update(heads="per_level", memorizing_path_dropout=0.0, loss="cross_entropy", hinge_margin=1.0,
                           wide_gain=1.0)
    assert Config.model_validate(dumped) == Config()
    dumped["model"]["loss"] = "hinge"
    with pytest.raises(ValueError, match="`loss` was removed"):
        Config.model_validate(dumped)


def _fields(section: type[BaseModel], prefix: str = "") -> list[tuple[str, FieldInfo]]:
    found = []
    for name, info in section.model_fields.items():
        found.append((prefix + name, info))
        for inner in typing.get_args(info.annotation) or (info.annotation,):
            for kind in typing.get_args(inner) or (inner,):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    found += _fields(kind, f"{prefix}{name}.")
    return found


def test_every_setting_says_what_it_is_for_in_one_line_without_measured_figures() -> None:
    """Figures live in BENCHMARKS.md, where the command that measured them is."""
    fields = _fields(Config)
    assert len(fields) > 100
    for name, info in fields:
        assert info.description and "\n" not in info.description, f"{name} has no one-line description"
        assert not re.search(r"\d\.\d{2}|\d+ ?%|\bpoints?\b", info.description), f"{name}: {info.description}"
