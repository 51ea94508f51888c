"""`probing`: how well a linear probe reads a task from each layer's frozen representation, per checkpoint.

One trial per (checkpoint, layer, seed); condition = the checkpoint id, params `layer` (0 = embedding output,
L = last block) and `train_size`. Every layer's features come from one forward pass, cached on disk
(`embedxfer.features`); probes are scikit-learn (`embedxfer.probes`). Checkpoints of any depth can be compared.
"""

from pathlib import Path

from embedxfer.experiments.probing.config import CONTROLS, POOLINGS, PROBES, ProbingConfig
from embedxfer.experiments.probing.figures import FIGURES, layer_curve
from embedxfer.experiments.probing.trial import estimate_seconds, expand, probe_metrics, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric


def compat(a, b):
    """Any two checkpoints can be probed side by side: layers are compared by index, whatever the depths."""
    from embedxfer.experiments.outputs import Support

    if a.num_layers == b.num_layers:
        return Support("yes", "same depth: layer k against layer k")
    return Support("adjusted", f"different depths ({a.num_layers} and {b.num_layers} blocks)")


KIND = register_kind(
    ExperimentKind(
        name="probing",
        config_cls=ProbingConfig,
        expand=expand,
        run_trial=run_trial,
        description="Probe every layer of one or more checkpoints with a linear classifier and a control.",
        card=KindCard(
            title="Probing",
            question="How well does a linear probe read the task from each layer's frozen representation?",
            reference="Tamkin et al. 2020, arXiv 2004.14975 (probing as in its section 4)",
            quick_preset="probing-quick",
        ),
        primary_metric=task_primary_metric,
        group_params=("layer",),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        layer_curve=layer_curve,
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "CONTROLS",
    "KIND",
    "POOLINGS",
    "PROBES",
    "ProbingConfig",
    "estimate_seconds",
    "expand",
    "probe_metrics",
    "run_trial",
]
