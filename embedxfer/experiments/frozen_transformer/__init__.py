"""`frozen_transformer`: can a language-pretrained transformer whose attention and feed-forward blocks stay frozen
solve non-language tasks when only new input/output layers, layer norms and positions train (Lu et al. 2021, arXiv
2103.05247), and does that survive a learning-rate sweep (Rothermel et al. 2021, arXiv 2107.12460)?

Conditions (public names): `pretrained`, `random`, `statistics-only`, `scratch-full`, `lstm`, and with `ladder` the
rungs `ladder:<groups>`; trials per (seed, task, lr, condition), task and lr trial params. The model and the
backbones in `model.py`, the attention artifact in `attention.py`, figures and paired comparisons in `figures.py`
(docs/architecture.md, "frozen_transformer").
"""

from pathlib import Path

from embedxfer.experiments.frozen_transformer.claims import CLAIMS
from embedxfer.experiments.frozen_transformer.config import (
    CONDITIONS,
    GROUPS,
    LADDER,
    TRAINABLE_PRESETS,
    FrozenTransformerConfig,
    expand_trainable,
    ladder_rungs,
)
from embedxfer.experiments.frozen_transformer.figures import FIGURES, chosen_trials, efficiency_ratio, paired_rows
from embedxfer.experiments.frozen_transformer.trial import (
    CONDITION_MEANING,
    empty_groups,
    estimate_seconds,
    expand,
    notes,
    run_trial,
)
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric
from embedxfer.experiments.serves import parts_rule

KIND = register_kind(
    ExperimentKind(
        name="frozen_transformer",
        checkpoint_rule=parts_rule("frozen_transformer freezes and trains groups of parts by name"),
        config_cls=FrozenTransformerConfig,
        expand=expand,
        run_trial=run_trial,
        description="Freeze a pretrained transformer's blocks, train new input/output layers, norms and positions "
        "on non-language tasks, against random, statistics-only, fully trained and LSTM baselines.",
        card=KindCard(
            title="Frozen transformer (FPT)",
            question="Can a language-pretrained transformer with frozen blocks solve non-language tasks?",
            reference="Lu et al. 2021, arXiv 2103.05247; Rothermel et al. 2021, arXiv 2107.12460",
            quick_preset="frozen_transformer-quick",
        ),
        primary_metric=task_primary_metric,
        summary_metrics=("steps_to_threshold", "trainable_parameters"),
        group_params=("task", "lr"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        claims=CLAIMS,
        notes=notes,
        paired=paired_rows,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "CONDITIONS",
    "CONDITION_MEANING",
    "GROUPS",
    "KIND",
    "LADDER",
    "TRAINABLE_PRESETS",
    "FrozenTransformerConfig",
    "chosen_trials",
    "efficiency_ratio",
    "empty_groups",
    "estimate_seconds",
    "expand",
    "expand_trainable",
    "ladder_rungs",
    "notes",
    "paired_rows",
    "run_trial",
]
