"""`layer_reinit`: which pretrained blocks matter for a task, at which finetuning data size (Tamkin et al. 2020,
arXiv 2004.14975), set beside how well each layer probes.

Each condition reinitializes some blocks of the checkpoint (`schemes.py`), then the whole model is finetuned at
every train size; with `probe`, the same experiment probes every layer of the untouched checkpoint (condition
`probe`, params `layer` and `train_size`), so one experiment holds both curves (docs/architecture.md,
"layer_reinit and probing").
"""

from pathlib import Path

from embedxfer.experiments.layer_reinit.claims import CLAIMS
from embedxfer.experiments.layer_reinit.config import INITS, POOLINGS, LayerReinitConfig
from embedxfer.experiments.layer_reinit.figures import FIGURES, layer_curve
from embedxfer.experiments.layer_reinit.schemes import SCHEMES, Condition, conditions, layer_order
from embedxfer.experiments.layer_reinit.trial import PROBE, estimate_seconds, expand, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric
from embedxfer.experiments.serves import parts_rule

KIND = register_kind(
    ExperimentKind(
        name="layer_reinit",
        checkpoint_rule=parts_rule("layer_reinit reinitializes and permutes blocks by name"),
        config_cls=LayerReinitConfig,
        expand=expand,
        run_trial=run_trial,
        description="Reinitialize pretrained blocks, finetune at several data sizes, and probe every layer.",
        card=KindCard(
            title="Layer reinitialization + probing",
            question="Which pretrained layers matter for a task, at which data size, and do they probe well?",
            reference="Tamkin et al. 2020, arXiv 2004.14975",
            quick_preset="layer_reinit-quick",
        ),
        primary_metric=task_primary_metric,
        group_params=("train_size", "layer"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        layer_curve=layer_curve,
        claims=CLAIMS,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "INITS",
    "KIND",
    "POOLINGS",
    "PROBE",
    "SCHEMES",
    "Condition",
    "LayerReinitConfig",
    "conditions",
    "estimate_seconds",
    "expand",
    "layer_order",
    "run_trial",
]
