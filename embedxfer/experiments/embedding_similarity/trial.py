"""embedding_similarity trials: one per (pair of checkpoints, seed); the seed only draws the shuffled reference."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from embedxfer.experiments.embedding_similarity.config import EmbeddingSimilarityConfig
from embedxfer.trials import TrialContext, TrialSpec


def pair_name(a: str, b: str) -> str:
    """The public condition name of a compared pair."""
    return f"{a} vs {b}"


def expand(config: EmbeddingSimilarityConfig) -> list[TrialSpec]:
    from embedxfer.checkpoints import arch_info

    for checkpoint in config.checkpoints:
        arch_info(checkpoint)  # an unknown checkpoint fails at submit
    return [
        TrialSpec(condition=pair_name(a, b), seed=seed, params={"a": a, "b": b})
        for a, b in combinations(config.checkpoints, 2)
        for seed in config.seeds
    ]


def run_trial(config: EmbeddingSimilarityConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    from embedxfer.analysis.similarity import compare
    from embedxfer.analysis.vocab import align_tables, token_table

    ctx.report({"phase": "reading both token-embedding matrices"})
    a, b = token_table(spec.params["a"]), token_table(spec.params["b"])
    alignment = align_tables(a, b)
    ctx.check_cancel()
    rows_a = np.asarray(a.matrix[alignment.rows_a], dtype=np.float32)
    rows_b = np.asarray(b.matrix[alignment.rows_b], dtype=np.float32)
    similarity = compare(rows_a, rows_b, k=config.k, seed=spec.seed, progress=lambda m: ctx.report({"phase": m}))
    return similarity.metrics() | {
        "shared_tokens": float(alignment.shared),
        "only_a": float(alignment.only_a),
        "only_b": float(alignment.only_b),
        "width_a": float(rows_a.shape[1]),
        "width_b": float(rows_b.shape[1]),
    }


def estimate_seconds(config: EmbeddingSimilarityConfig) -> float:
    """Rough CPU seconds per pair of 30k-token vocabularies: the two kNN searches dominate."""
    return 40.0
