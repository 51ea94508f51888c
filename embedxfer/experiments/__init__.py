"""Experiment kinds. Importing this package registers the built-in kinds."""

from embedxfer.experiments.base import (
    ExperimentKind,
    TrialCancelled,
    TrialContext,
    TrialDiverged,
    TrialSpec,
    get_kind,
    list_kinds,
    register_kind,
)
from embedxfer.experiments.config import BaseConfig, config_to_dict, field_specs, load_config_file, parse_config

__all__ = [
    "BaseConfig",
    "ExperimentKind",
    "TrialCancelled",
    "TrialContext",
    "TrialDiverged",
    "TrialSpec",
    "config_to_dict",
    "field_specs",
    "get_kind",
    "list_kinds",
    "load_config_file",
    "parse_config",
    "register_kind",
]

# Built-in kinds: one import each registers it.
from embedxfer.experiments import finetune  # noqa: E402, F401
