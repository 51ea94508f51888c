"""Experiment kinds: the config framework, the kind registry, presets and launch plans.

One package per kind under this folder (`finetune/`, ...); `registry.BUILTIN_KINDS` lists them and the
registry imports them on first lookup, so importing this package stays cheap (no torch, no pandas).
"""

from embedxfer.experiments.config import BaseConfig, FieldSpec, config_field, config_to_dict, field_specs
from embedxfer.experiments.parsing import load_config_file, parse_config, parse_config_text
from embedxfer.experiments.plan import ExperimentPlan, plan_experiment, plan_notes
from embedxfer.experiments.presets import Preset, get_preset, list_presets, parse_overrides
from embedxfer.experiments.registry import (
    ExperimentKind,
    KindCard,
    PlannedKind,
    get_kind,
    list_kinds,
    mentioned,
    planned_kinds,
    register_kind,
    unregister_kind,
)

__all__ = [
    "BaseConfig",
    "ExperimentKind",
    "ExperimentPlan",
    "FieldSpec",
    "KindCard",
    "PlannedKind",
    "Preset",
    "config_field",
    "config_to_dict",
    "field_specs",
    "get_kind",
    "get_preset",
    "list_kinds",
    "list_presets",
    "mentioned",
    "load_config_file",
    "parse_config",
    "parse_config_text",
    "parse_overrides",
    "plan_experiment",
    "plan_notes",
    "planned_kinds",
    "register_kind",
    "unregister_kind",
]
