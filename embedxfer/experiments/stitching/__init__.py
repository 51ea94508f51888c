"""`stitching`: can model B's upper blocks work on model A's lower-layer representation, through nothing more than
a trained affine map between them (model stitching: Bansal et al. 2021, arXiv 2106.07682; Csiszárik et al. 2021,
arXiv 2110.14633)?

A stays frozen up to hidden state i, an affine stitch maps each token's state into B's width, B stays frozen from
block j on, and a linear head reads B's last layer mean-pooled; only the stitch and the head train. Conditions
(public names): `stitch:<i>-><j>` (the stitch starts from least squares, whose R^2 is `stitch_r2`),
`random-stitch` (params i and j: a frozen random map of the right scale, head only), `b-alone` (the head on B's
own last layer: the reference every stitch is paired against) and, when A is B, `identity` (no stitch: must equal
b-alone). Pairs come from `pairs.py`, the network from `model.py`, the stitch's start from `fit.py`.
"""

from pathlib import Path

from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric
from embedxfer.experiments.serves import parts_rule
from embedxfer.experiments.stitching.config import StitchingConfig
from embedxfer.experiments.stitching.figures import FIGURES, layer_curve, paired_rows
from embedxfer.experiments.stitching.pairs import (
    B_ALONE,
    IDENTITY,
    RANDOM_STITCH,
    depth_pairs,
    resolve_pairs,
    stitch_condition,
)
from embedxfer.experiments.stitching.trial import estimate_seconds, expand, notes, run_trial


def compat(a, b):
    """A token-level stitch needs one tokenization on both sides; widths and depths may differ (the stitch maps
    widths, the pairs map depths). The vocabulary is judged from ArchInfo here; the plan compares the tokenizers."""
    from embedxfer.checkpoints.info import same_vocabulary
    from embedxfer.experiments.outputs import Support

    if not same_vocabulary(a, b):
        return Support("no", "tokenizers differ; layer_similarity aligns layers by example instead")
    if a.hidden_size == b.hidden_size and a.num_layers == b.num_layers:
        return Support("yes", "same tokenizer, width and depth")
    return Support("adjusted", f"stitch maps {a.hidden_size} to {b.hidden_size} wide, pairs by relative depth")


KIND = register_kind(
    ExperimentKind(
        name="stitching",
        checkpoint_rule=parts_rule("stitching hooks into transformer blocks by name"),
        config_cls=StitchingConfig,
        expand=expand,
        run_trial=run_trial,
        description="Feed A's hidden state i through a trained affine stitch into B's block j onward, against B "
        "alone and a random stitch.",
        card=KindCard(
            title="Model stitching",
            question="Can B's upper blocks use A's lower-layer representation through a trained affine stitch?",
            reference="Bansal et al. 2021, arXiv 2106.07682; Csiszárik et al. 2021, arXiv 2110.14633",
            quick_preset="stitching-quick",
        ),
        primary_metric=task_primary_metric,
        summary_metrics=("stitch_r2", "stitch_r2_test"),
        group_params=("i", "j"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        layer_curve=layer_curve,
        notes=notes,
        paired=paired_rows,
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "B_ALONE",
    "IDENTITY",
    "KIND",
    "RANDOM_STITCH",
    "StitchingConfig",
    "depth_pairs",
    "estimate_seconds",
    "expand",
    "notes",
    "paired_rows",
    "resolve_pairs",
    "run_trial",
    "stitch_condition",
]
