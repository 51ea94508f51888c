"""Presets: every shipped preset parses and expands; names, overrides and malformed files are handled."""

from __future__ import annotations

import pytest

from embedxfer.errors import ConfigError
from embedxfer.experiments import get_preset, list_kinds, list_presets, parse_config, parse_overrides, plan_experiment
from embedxfer.experiments.presets import read_preset


def test_every_preset_parses_and_expands():
    presets = list_presets()
    assert "finetune-quick" in {p.name for p in presets}
    for preset in [p for p in presets if not p.online]:  # online ones: tests/test_hub_revisions.py
        plan = plan_experiment(preset.config)  # expands: checks the checkpoint, task and parts for real
        assert plan.kind.name == preset.kind and plan.trials and preset.description
        assert plan.total_seconds() is not None


def test_every_kind_has_a_quick_preset_on_its_card():
    for kind in list_kinds():
        assert kind.card.quick_preset, f"{kind.name} ships no quick preset"
        assert get_preset(kind.card.quick_preset).kind == kind.name


def test_finetune_quick_is_three_seeds_on_a_bundled_checkpoint():
    from embedxfer.checkpoints import BUNDLED_IDS

    plan = plan_experiment(get_preset("preset:finetune-quick").config)
    assert plan.config.seeds == [0, 1, 2] and plan.config.checkpoint in BUNDLED_IDS
    assert plan.conditions == ["full", "freeze:embed.tokens"] and len(plan.trials) == 6


def test_overrides_are_yaml_values():
    overrides = parse_overrides(["seeds=[0,1]", "train_size=null", "lr=2e-5", "freeze=[embed.tokens]", "name=a=b"])
    assert overrides == {"seeds": [0, 1], "train_size": None, "lr": "2e-5", "freeze": ["embed.tokens"], "name": "a=b"}
    config = parse_config(get_preset("finetune-quick").with_overrides(parse_overrides(["seeds=[0,1]", "lr=2e-5"])))
    assert config.seeds == [0, 1] and config.lr == pytest.approx(2e-5) and config.train_size == 400
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_overrides(["seeds"])
    with pytest.raises(ConfigError, match="Unknown field 'colour'"):
        parse_config(get_preset("finetune-quick").with_overrides({"colour": "red"}))
    with pytest.raises(ConfigError, match="kind cannot be overridden"):
        get_preset("finetune-quick").with_overrides({"kind": "other"})


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="Unknown preset 'nope'; known presets: .*finetune-quick"):
        get_preset("preset:nope")


def test_malformed_preset_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("config: {kind: finetune}\n")
    with pytest.raises(ConfigError, match="bad.yaml must hold a 'description'"):
        read_preset(bad, "finetune")
    bad.write_text("description: x\nconfig: {kind: other}\n")
    with pytest.raises(ConfigError, match="config says kind other"):
        read_preset(bad, "finetune")
