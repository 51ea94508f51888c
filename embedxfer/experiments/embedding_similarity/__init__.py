"""`embedding_similarity`: how alike two or more checkpoints' token embeddings are, over their shared vocabulary.

One trial per (pair, seed); condition = "A vs B", params `a`, `b`. Measures (`embedxfer.analysis.similarity`):
linear CKA, kNN overlap@k (cosine, full width) and the orthogonal Procrustes residual (after PCA to the smaller
width when the widths differ; the trial reports `procrustes_width`), each with a shuffled-rows reference.
"""

from pathlib import Path

from embedxfer.experiments.embedding_similarity.config import EmbeddingSimilarityConfig
from embedxfer.experiments.embedding_similarity.figures import FIGURES
from embedxfer.experiments.embedding_similarity.trial import estimate_seconds, expand, pair_name, run_trial
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind


def compat(a, b):
    from embedxfer.experiments.outputs import Support

    if a.table_width == b.table_width:
        return Support("yes", "same width: every measure on the raw rows")
    return Support("adjusted", f"widths {a.table_width} and {b.table_width}: Procrustes after PCA to the smaller")


KIND = register_kind(
    ExperimentKind(
        name="embedding_similarity",
        config_cls=EmbeddingSimilarityConfig,
        expand=expand,
        run_trial=run_trial,
        description="CKA, kNN overlap and Procrustes between checkpoints' token embeddings, with shuffled references.",
        card=KindCard(
            title="Embedding similarity",
            question="How similar are two checkpoints' token embeddings, measured against chance?",
            reference="linear CKA (Kornblith et al. 2019), kNN overlap, orthogonal Procrustes",
            quick_preset="embedding_similarity-quick",
            page="explore",
        ),
        primary_metric="cka",
        summary_metrics=(
            "cka_shuffled",
            "knn_overlap",
            "knn_overlap_shuffled",
            "procrustes_residual",
            "procrustes_residual_shuffled",
            "shared_tokens",
        ),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = ["KIND", "EmbeddingSimilarityConfig", "estimate_seconds", "expand", "pair_name", "run_trial"]
