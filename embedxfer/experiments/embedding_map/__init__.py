"""`embedding_map`: 2-D maps (PCA, UMAP, t-SNE) of one or two checkpoints' whole token-embedding matrices.

One trial per (checkpoint, seed); condition = the checkpoint. With two checkpoints both maps cover their shared
vocabulary (rows aligned by the text each token stands for, `embedxfer.analysis.vocab`) and the trial reports the
shared and unshared counts. Projections are cached on disk (`embedxfer.analysis.projection`): a repeated map is
read, not recomputed, and its trial reports `projection_cached = 1`. The Explorer page draws these maps.
"""

from pathlib import Path

from embedxfer.experiments.embedding_map.config import EmbeddingMapConfig
from embedxfer.experiments.embedding_map.figures import FIGURES, read_maps
from embedxfer.experiments.embedding_map.trial import MAP_ARTIFACT, estimate_seconds, expand, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind


def compat(a, b):
    """Any two checkpoints can be drawn side by side; different tokenizers share only part of their vocabulary."""
    from embedxfer.experiments.outputs import Support

    if a.vocab_size == b.vocab_size and a.family == b.family:
        return Support("yes", "same family and vocabulary size: maps over the shared tokens")
    return Support("adjusted", "maps over the tokens both vocabularies have (aligned by text)")


KIND = register_kind(
    ExperimentKind(
        name="embedding_map",
        config_cls=EmbeddingMapConfig,
        expand=expand,
        run_trial=run_trial,
        description="2-D maps of whole token-embedding matrices, two checkpoints side by side.",
        card=KindCard(
            title="Embedding explorer",
            question="What do token-embedding matrices look like, and where do two checkpoints differ?",
            reference="no training needed · every vocabulary row, no sampling",
            quick_preset="embedding_map-quick",
            page="explore",
        ),
        primary_metric="neighbour_recall",
        summary_metrics=("shared_tokens", "projection_cached"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = ["KIND", "MAP_ARTIFACT", "EmbeddingMapConfig", "estimate_seconds", "expand", "read_maps", "run_trial"]
