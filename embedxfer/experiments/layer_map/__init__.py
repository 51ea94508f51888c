"""`layer_map`: each layer's pooled sentence representation of a task's examples, projected to 2-D, by label.

One trial per (layer, seed); condition = the checkpoint, param `layer`. Features are read from the probing feature
cache (`embedxfer.features`: every layer from one forward pass, never encoded twice); projections from the
projection cache. Each trial also reports `label_agreement`: the share of an example's 10 nearest examples (full
width) with its label, and the same on the 2-D map.
"""

from pathlib import Path

from embedxfer.experiments.layer_map.config import POOLINGS, LayerMapConfig
from embedxfer.experiments.layer_map.figures import FIGURES, read_layer_maps
from embedxfer.experiments.layer_map.trial import MAP_ARTIFACT, estimate_seconds, expand, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind

KIND = register_kind(
    ExperimentKind(
        name="layer_map",
        config_cls=LayerMapConfig,
        expand=expand,
        run_trial=run_trial,
        description="Per-layer 2-D maps of a task's sentence representations, coloured by label.",
        card=KindCard(
            title="Layer maps",
            question="How do a task's classes separate, layer by layer, in a frozen checkpoint?",
            reference="no training needed · features shared with probing",
            quick_preset="layer_map-quick",
            page="explore",
        ),
        primary_metric="label_agreement",
        group_params=("layer",),
        summary_metrics=("map_label_agreement", "projection_cached"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "KIND",
    "MAP_ARTIFACT",
    "POOLINGS",
    "LayerMapConfig",
    "estimate_seconds",
    "expand",
    "read_layer_maps",
    "run_trial",
]
