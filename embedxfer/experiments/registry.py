"""The experiment-kind registry: what a kind is made of, the built-in kinds, and the kinds still planned.

A kind is one package under `embedxfer/experiments/<kind>/` that builds an `ExperimentKind` and registers it;
adding a built-in kind is that package plus its module name in `BUILTIN_KINDS` (docs/architecture.md,
"Adding an experiment kind"). Everything the dashboard, the CLI and the results layer know about a kind comes
from its `ExperimentKind`: the config dataclass (with field roles), expand / run_trial / estimate, its card,
figures, presets and compatibility rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import check_config_class, field_specs
from embedxfer.registry import Registry
from embedxfer.trials import TrialContext, TrialSpec

if TYPE_CHECKING:
    from embedxfer.checkpoints import ArchInfo
    from embedxfer.experiments.outputs import ClaimSpec, DownloadSpec, FigureSpec, Support, TableSpec

#: The built-in kinds, one package each; importing a package registers its kind.
BUILTIN_KINDS = (
    "embedxfer.experiments.finetune",
    "embedxfer.experiments.layer_reinit",
    "embedxfer.experiments.probing",
    "embedxfer.experiments.layer_similarity",
    "embedxfer.experiments.stitching",
    "embedxfer.experiments.embedding_map",
    "embedxfer.experiments.embedding_similarity",
    "embedxfer.experiments.layer_map",
    "embedxfer.experiments.embedding_transfer",
    "embedxfer.experiments.frozen_transformer",
    "embedxfer.experiments.module_porting",
)


@dataclass(frozen=True)
class KindCard:
    """How a kind introduces itself on Home and in the kind picker."""

    title: str
    #: the question the kind answers, one sentence
    question: str
    #: where the protocol comes from (paper, thread), shown under the question
    reference: str
    #: the preset a Home card opens the form with (a `quick` one: minutes on CPU)
    quick_preset: str | None = None
    #: the url path of a dashboard page made for this kind (the explorer kinds' "explore"); Home links to it
    page: str | None = None


@dataclass(frozen=True)
class PlannedKind:
    """A family that is designed (docs/architecture.md) but not built in this version."""

    name: str
    card: KindCard


#: Families not built yet, in the order a newcomer meets them; a kind leaves this list when its package lands.
PLANNED: tuple[PlannedKind, ...] = ()


@dataclass(frozen=True)
class ExperimentKind:
    """A registered experiment family: everything the rest of embedxfer needs to know about it."""

    name: str
    config_cls: type
    expand: Callable[[Any], list[TrialSpec]]
    run_trial: Callable[[Any, TrialSpec, TrialContext], dict[str, float]]
    description: str
    card: KindCard
    #: the metric shown first in summaries and figures: a name, or a function of the stored config dict
    #: (finetune's depends on its task: test_accuracy or test_pearson)
    primary_metric: str | Callable[[Mapping[str, Any]], str] = "test_accuracy"
    #: metrics besides test/val ones and the primary that the summary table shows (analyses' measures)
    summary_metrics: tuple[str, ...] = ()
    #: trial params that, with the condition, define a summary group (e.g. ("train_size",))
    group_params: tuple[str, ...] = ()
    #: rough seconds per trial on CPU for the pre-launch estimate
    estimate_seconds: Callable[[Any], float] | None = None
    #: the figures the run page, the Board and `export` offer, in display order
    figures: tuple[FigureSpec, ...] = ()
    #: what a reader of a plan or its results must know about a config (what each baseline rules out, which numbers
    #: are not comparable): shown with the plan (CLI and New experiment) and on the run page
    notes: Callable[[Any], list[str]] | None = None
    #: the kind's paired comparisons (each condition against its reference, seed by seed, 95% interval): a
    #: function of ExperimentData giving a frame; shown under the summary by `show` and on the run page
    paired: Callable[[Any], Any] | None = None
    #: named tables beside the summary (run page tabs, HTML report), e.g. module_porting's port report
    tables: tuple[TableSpec, ...] = ()
    #: named files to download (run page buttons, `export --format <name>`), e.g. module_porting's modules
    downloads: tuple[DownloadSpec, ...] = ()
    #: what this kind can do with a pair of checkpoints (None: the kind takes one checkpoint at a time)
    compat: Callable[[ArchInfo, ArchInfo], Support] | None = None
    #: folder of `<preset-name>.yaml` files shipped with the kind
    presets_dir: Path | None = None
    #: why this kind cannot run a checkpoint (one sentence), None when it can; None for a kind that takes every
    #: model transformers loads (it reads hidden states or the token table only). See experiments/serves.py.
    checkpoint_rule: Callable[[ArchInfo], str | None] | None = None
    #: the kind's per-layer curve for the Board's Layer view (embedxfer/results/layer_view.py): a function of
    #: ExperimentData giving rows of series, layer (hidden state k, 0 = embedding output), mean, low, high, n
    layer_curve: Callable[[Any], Any] | None = None
    #: the kind's paper's findings, each checked on a run's own data (experiments/claims.py: the verdict rules)
    claims: tuple[ClaimSpec, ...] = ()
    #: for tests and plugins: extra metadata a kind wants to carry
    extra: dict[str, Any] = field(default_factory=dict)

    def primary_metric_for(self, config: Mapping[str, Any]) -> str:
        """The primary metric of an experiment of this kind with stored config `config`."""
        metric = self.primary_metric
        return metric(config) if callable(metric) else metric


_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _unknown_kind(name: str, known: list[str]) -> ConfigError:
    planned = {p.name for p in PLANNED}
    if name in planned:
        return ConfigError(
            f"Experiment kind {name!r} is planned but not built in this version; known kinds: "
            f"{', '.join(known) or 'none'}."
        )
    return ConfigError(f"Unknown experiment kind {name!r}; known kinds: {', '.join(known) or 'none'}.")


KINDS: Registry[ExperimentKind] = Registry("experiment kind", BUILTIN_KINDS, _unknown_kind)


def register_kind(kind: ExperimentKind) -> ExperimentKind:
    """Add a kind to the registry; names are lowercase snake_case and unique, config fields must be declared fully."""
    if not _KIND_NAME.match(kind.name):
        raise ValueError(f"experiment kind name {kind.name!r} must be lowercase snake_case")
    check_config_class(kind.config_cls)
    return KINDS.register(kind.name, kind)


def unregister_kind(name: str) -> None:
    """Remove a kind (tests that register a throwaway kind clean up with this)."""
    KINDS.unregister(name)


def get_kind(name: str) -> ExperimentKind:
    """The registered kind called `name`; ConfigError lists the known kinds otherwise."""
    return KINDS.get(name)


def list_kinds() -> list[ExperimentKind]:
    """All registered kinds: built-in ones in `BUILTIN_KINDS` order, then any registered later."""
    return list(KINDS)


def planned_kinds() -> list[PlannedKind]:
    """Planned families that no registered kind has taken the name of yet."""
    built = set(KINDS.names())
    return [p for p in PLANNED if p.name not in built]


def task_primary_metric(config: Mapping[str, Any]) -> str:
    """test_accuracy for a classification task, test_pearson for a regression one: the primary metric of every
    kind judged by its task's own metric."""
    from embedxfer.tasks import task_metric

    return "test_" + task_metric(str(config.get("task", "")))


def mentioned(config: Mapping[str, Any], roles: tuple[str, ...]) -> list[str]:
    """The values of a stored config's fields with one of `roles` (e.g. ("checkpoint", "checkpoints")), each
    once, in field order; for a kind that is not installed, the fields whose names contain a role."""
    try:
        names = [s.name for s in field_specs(get_kind(str(config.get("kind"))).config_cls) if s.role in roles]
    except ConfigError:
        names = [key for key in config if any(role.rstrip("s") in key for role in roles)]
    found: list[str] = []
    for name in names:
        value = config.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | int | float) and str(item):
                found.append(str(item))
    return list(dict.fromkeys(found))
