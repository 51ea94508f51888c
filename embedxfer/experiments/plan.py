"""A launch, checked and expanded once: the parsed config, its trials and the rough time they take.

The New experiment page shows a plan before launch and submits that same plan; the CLI and the job manager
take one too, so a config is parsed once and expanded once on its way to the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_to_dict
from embedxfer.experiments.parsing import parse_config
from embedxfer.experiments.registry import ExperimentKind, get_kind
from embedxfer.experiments.serves import check_served, model_notes
from embedxfer.trials import TrialSpec


@dataclass(frozen=True)
class ExperimentPlan:
    """What a launch will run: the kind, the parsed config and its trials (condition x seed x ...)."""

    kind: ExperimentKind
    config: BaseConfig
    trials: tuple[TrialSpec, ...]
    #: rough seconds per trial on CPU, None when the kind gives no estimate
    seconds_per_trial: float | None

    @property
    def conditions(self) -> list[str]:
        return list(dict.fromkeys(spec.condition for spec in self.trials))

    def total_seconds(self, workers: int = 1) -> float | None:
        """Rough wall time with `workers` parallel workers."""
        if self.seconds_per_trial is None:
            return None
        return self.seconds_per_trial * len(self.trials) / max(1, workers)

    @property
    def notes(self) -> list[str]:
        """The kind's notes on this config (what its baselines rule out, what is not comparable), maybe none."""
        return _kind_notes(self.kind, self.config)

    def config_dict(self) -> dict[str, Any]:
        """The config as stored, shown and re-submitted (`kind` first)."""
        return config_to_dict(self.config)


def plan_experiment(config: BaseConfig | dict[str, Any]) -> ExperimentPlan:
    """Parse `config` (a dict) if needed and expand it: checkpoint, task and kind-specific names are checked now,
    so bad input fails at submit, not in a worker."""
    if not isinstance(config, BaseConfig):
        config = parse_config(config)
    kind = get_kind(config.kind)
    check_served(kind, config)  # a parts-by-name kind on a family it has no part map for: refused here, in a sentence
    trials = tuple(kind.expand(config))
    if not trials:
        raise ConfigError(f"This {kind.name} config expands to no trials; check its conditions and seeds.")
    seconds = kind.estimate_seconds(config) if kind.estimate_seconds else None
    return ExperimentPlan(kind, config, trials, seconds)


def plan_notes(config: BaseConfig | dict[str, Any]) -> list[str]:
    """The kind's notes on a (stored) config without expanding it; none when the kind has none or the config no
    longer parses (a kind or field that changed since it was stored)."""
    from embedxfer.errors import EmbedxferError

    try:
        parsed = config if isinstance(config, BaseConfig) else parse_config(config)
        return _kind_notes(get_kind(parsed.kind), parsed)
    except EmbedxferError:
        return []


def _kind_notes(kind: ExperimentKind, config: BaseConfig) -> list[str]:
    return (list(kind.notes(config)) if kind.notes else []) + model_notes(config)
