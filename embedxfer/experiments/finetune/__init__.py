"""`finetune`: train a checkpoint plus a task head, optionally with some parts frozen.

The simplest experiment kind, and the baseline of every family: each freeze setting is a condition (`full`
when nothing is frozen) and runs once per seed. One checkpoint at a time, so it has no pair-compatibility rule.
"""

from pathlib import Path

from embedxfer.experiments.finetune.config import POOLINGS, FinetuneConfig
from embedxfer.experiments.finetune.figures import FIGURES
from embedxfer.experiments.finetune.trial import condition_name, estimate_seconds, expand, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric

KIND = register_kind(
    ExperimentKind(
        name="finetune",
        config_cls=FinetuneConfig,
        expand=expand,
        run_trial=run_trial,
        description="Finetune a checkpoint with a task head, optionally freezing parts.",
        card=KindCard(
            title="Finetune with frozen parts",
            question="How well does a checkpoint do on a task when some of its parts stay frozen?",
            reference="the baseline for every family",
            quick_preset="finetune-quick",
        ),
        primary_metric=task_primary_metric,
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = ["KIND", "POOLINGS", "FinetuneConfig", "condition_name", "estimate_seconds", "expand", "run_trial"]
