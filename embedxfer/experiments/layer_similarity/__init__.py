"""`layer_similarity`: which layer of A is which layer of B? Every hidden state of A against every hidden state of
B on the same task examples, by debiased linear CKA (Kornblith et al. 2019), mutual k-nearest-neighbour alignment
(Huh et al. 2024) and the orthogonal Procrustes distance after PCA, each cell with a permutation null and a 95%
bootstrap interval over examples.

One trial per (measure, seed); condition = the measure, its grid a trial artifact (`grid.json`). Features come from
the feature cache (`embedxfer.features`), shared with probing and layer_map. The measures are in `measures.py` (torch,
on the trial's device), the figures in `figures.py`, and `pairs.best_pairs` hands the best-matching layers to
stitching.
"""

from pathlib import Path

from embedxfer.experiments.layer_similarity.config import MEASURES, POOLINGS, LayerSimilarityConfig
from embedxfer.experiments.layer_similarity.figures import FIGURES, best_matches, layer_curve, read_grids
from embedxfer.experiments.layer_similarity.trial import GRID_ARTIFACT, estimate_seconds, expand, notes, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind


def compat(a, b):
    """Any two checkpoints compare: rows are aligned by example, so tokenizers and widths may differ."""
    from embedxfer.experiments.outputs import Support

    if a.num_layers == b.num_layers and a.hidden_size == b.hidden_size:
        return Support("yes", "same depth and width: layer k against layer k reads directly")
    return Support("adjusted", f"{a.num_layers + 1} x {b.num_layers + 1} hidden states, aligned by example")


KIND = register_kind(
    ExperimentKind(
        name="layer_similarity",
        config_cls=LayerSimilarityConfig,
        expand=expand,
        run_trial=run_trial,
        description="Layer x layer similarity of two checkpoints (CKA, mutual kNN, Procrustes) with nulls and "
        "bootstrap intervals.",
        card=KindCard(
            title="Layer similarity",
            question="Which layer of A is which layer of B, and is the match beyond chance?",
            reference="Kornblith et al. 2019, arXiv 1905.00414 (CKA); Huh et al. 2024, arXiv 2405.07987 (mutual kNN)",
            quick_preset="layer_similarity-quick",
        ),
        primary_metric="depth_matched_mean",
        summary_metrics=("best_match_depth_gap", "cells_beyond_every_null"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        layer_curve=layer_curve,
        notes=notes,
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "GRID_ARTIFACT",
    "KIND",
    "MEASURES",
    "POOLINGS",
    "LayerSimilarityConfig",
    "best_matches",
    "estimate_seconds",
    "expand",
    "notes",
    "read_grids",
    "run_trial",
]
