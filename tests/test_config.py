"""Config parsing: kinds, unknown fields, types, YAML files, field specs for forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from embedxfer.errors import ConfigError
from embedxfer.experiments import config_to_dict, field_specs, get_kind, list_kinds, load_config_file, parse_config
from embedxfer.experiments.finetune import FinetuneConfig

MINIMAL = {"kind": "finetune", "checkpoint": "minilm-l3", "task": "tweets-binary", "train_size": 64, "seeds": [0, 1]}


def test_minimal_design_config_parses():
    config = parse_config(MINIMAL)
    assert isinstance(config, FinetuneConfig)
    assert config.train_size == 64 and config.seeds == [0, 1] and config.device == "auto"
    assert config_to_dict(config)["kind"] == "finetune"
    assert parse_config(config_to_dict(config)) == config  # a stored config re-submits as it is


def test_yaml_file_roundtrip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kind: finetune\ncheckpoint: minilm-l3\ntask: tweets-binary\ntrain_size: 64\nseeds: [0, 1]\n")
    assert load_config_file(path) == parse_config(MINIMAL)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"learning_rate": 0.1}, "Unknown field 'learning_rate' for kind 'finetune'; valid fields: task, "),
        ({"seeds": 3}, "Field 'seeds' must be a list of integers, got 3"),
        ({"seeds": [0, "a"]}, "Field 'seeds\\[1\\]' must be an integer"),
        ({"train_size": "many"}, "Field 'train_size' must be an integer or null"),
        ({"lr": "fast"}, "Field 'lr' must be a number"),
        ({"lr": -1}, "Field 'lr' must be positive"),
        ({"kind": "nope"}, "Unknown experiment kind 'nope'; known kinds: .*finetune"),
        ({"seeds": []}, "at least one seed"),
        ({"device": "tpu"}, "Field 'device' must be auto, cpu, cuda or cuda:N"),
        ({"freeze": "embed.tokens"}, "Field 'freeze' must be a list"),
        ({"pooling": "max"}, "Field 'pooling' must be one of mean, cls, last"),
    ],
)
def test_bad_configs_name_the_problem(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **change})


def test_missing_kind_and_non_mapping():
    with pytest.raises(ConfigError, match="no 'kind' field"):
        parse_config({"task": "x"})
    with pytest.raises(ConfigError, match="mapping"):
        parse_config(["kind", "finetune"])


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read config file"):
        load_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: finetune\nseeds: [0, 1\n")
    with pytest.raises(ConfigError, match="not valid YAML/JSON at line"):
        load_config_file(bad)


def test_int_is_accepted_where_float_is_expected():
    assert parse_config({**MINIMAL, "epochs": 2}).epochs == 2.0


def test_field_specs_describe_every_field_for_forms():
    specs = {s.name: s for s in field_specs(FinetuneConfig)}
    assert list(specs)[:4] == ["task", "train_size", "seeds", "device"]
    assert specs["pooling"].choices == ("mean", "cls", "last")
    assert specs["seeds"].default == [0, 1, 2]
    assert all(s.help for s in specs.values())


def test_registry_lists_finetune_and_rejects_duplicates():
    from embedxfer.experiments import ExperimentKind, register_kind

    assert "finetune" in [k.name for k in list_kinds()]
    kind = get_kind("finetune")
    with pytest.raises(ValueError, match="already registered"):
        register_kind(ExperimentKind("finetune", FinetuneConfig, kind.expand, kind.run_trial, "dup", kind.card))
    with pytest.raises(ValueError, match="snake_case"):
        register_kind(ExperimentKind("Bad-Name", FinetuneConfig, kind.expand, kind.run_trial, "bad", kind.card))


def test_config_parsing_does_not_import_torch():
    """Pages and the CLI parse configs on cheap paths; torch loads only where a trial runs."""
    import subprocess
    import sys

    code = "import sys, embedxfer.experiments, embedxfer.store; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_finetune_poolings_match_the_model():
    from embedxfer import heads as models
    from embedxfer.experiments.finetune import POOLINGS

    assert POOLINGS == models.POOLINGS


@pytest.mark.parametrize("written", ["2e-5", "2.0e-5", "0.00002", "2E-05"])
def test_learning_rates_as_people_write_them(tmp_path, written):
    """YAML 1.1 reads `2e-5` (no dot) as a string; numeric fields accept numbers written as text."""
    path = tmp_path / "c.yaml"
    path.write_text(f"kind: finetune\ntask: tweets-binary\nlr: {written}\nbatch_size: '16'\n")
    config = load_config_file(path)
    assert config.lr == pytest.approx(2e-5) and isinstance(config.lr, float)
    assert config.batch_size == 16 and config == parse_config({**config_to_dict(config), "lr": 2e-5})


def test_numeric_text_is_only_accepted_when_it_is_a_number():
    with pytest.raises(ConfigError, match="Field 'lr' must be a number"):
        parse_config({**MINIMAL, "lr": "nan"})
    with pytest.raises(ConfigError, match="Field 'batch_size' must be an integer"):
        parse_config({**MINIMAL, "batch_size": "8.5"})
    with pytest.raises(ConfigError, match="Field 'train_size' must be an integer or null"):
        parse_config({**MINIMAL, "train_size": True})


def test_json_files_are_read_as_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"kind": "finetune", "task": "tweets-binary", "lr": 2e-5, "seeds": [0]}')
    assert load_config_file(path).lr == pytest.approx(2e-5)
    path.write_text('{"kind": "finetune",')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config_file(path)


def test_every_kind_declares_its_fields_fully():
    """Roles name what a value is (forms never guess from names); optional fields say what empty means."""
    from embedxfer.experiments.config import ROLES

    for kind in list_kinds():
        for spec in field_specs(kind.config_cls):
            assert spec.help, (kind.name, spec.name)
            assert spec.role in (None, *ROLES), (kind.name, spec.name)
            assert not spec.optional or spec.empty, (kind.name, spec.name)
    roles = {s.name: s.role for s in field_specs(FinetuneConfig)}
    assert roles["checkpoint"] == "checkpoint" and roles["task"] == "task" and roles["freeze"] == "parts"


def test_a_kind_with_an_undeclared_optional_field_is_refused():
    from embedxfer.experiments import BaseConfig, ExperimentKind, config_field, register_kind

    @dataclass(kw_only=True)
    class Sloppy(BaseConfig):
        kind: ClassVar[str] = "sloppy"
        cap: int | None = config_field(None, help="a cap")  # no empty=...

    finetune = get_kind("finetune")
    with pytest.raises(ValueError, match="Sloppy.cap is optional: say what empty means"):
        register_kind(ExperimentKind("sloppy", Sloppy, finetune.expand, finetune.run_trial, "x", finetune.card))
    assert "sloppy" not in [k.name for k in list_kinds()]
