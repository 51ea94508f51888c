"""embedding_map trials: one per (checkpoint, seed); each projects its checkpoint's rows (the shared vocabulary
when there are two) and stores the map with its tokens as `map.parquet`."""

from __future__ import annotations

import numpy as np

from embedxfer.errors import ConfigError
from embedxfer.experiments.embedding_map.config import EmbeddingMapConfig
from embedxfer.trials import TrialContext, TrialSpec

MAP_ARTIFACT = "map.parquet"


def expand(config: EmbeddingMapConfig) -> list[TrialSpec]:
    """Checkpoints and the map's size are checked now; the shared vocabulary is checked by the trial (it needs
    both tokenizers) and a pair with none fails with a sentence saying so."""
    from embedxfer.analysis.projection import check_projection, method_params
    from embedxfer.checkpoints import arch_info

    infos = {checkpoint: arch_info(checkpoint) for checkpoint in config.checkpoints}
    smallest = min(info.vocab_size for info in infos.values())
    if isinstance(config.rows, int) and config.rows > smallest:
        owner = min(infos, key=lambda c: infos[c].vocab_size)
        raise ConfigError(
            f"Field 'rows' asks for {config.rows:,} rows, but {owner}'s vocabulary has {smallest:,}; "
            "use rows: all for every row, or a smaller number."
        )
    rows = config.rows if isinstance(config.rows, int) else smallest
    check_projection(config.method, method_params(config.method, config.projection_params()), rows)
    return [
        TrialSpec(condition=checkpoint, seed=seed, params={"method": config.method_label()})
        for seed in config.seeds
        for checkpoint in config.checkpoints
    ]


def map_rows(config: EmbeddingMapConfig, checkpoint: str) -> tuple[object, np.ndarray, dict[str, float]]:
    """The token table of `checkpoint`, the rows its map shows, and the vocabulary counts to report."""
    from embedxfer.analysis.vocab import align_tables, token_table

    table = token_table(checkpoint)
    counts: dict[str, float] = {"vocabulary": float(table.rows)}
    rows = np.arange(table.rows)
    if len(config.checkpoints) == 2:
        first, second = (token_table(c) for c in config.checkpoints)
        alignment = align_tables(first, second)
        rows = alignment.rows_a if checkpoint == config.checkpoints[0] else alignment.rows_b
        mine, theirs = (alignment.only_a, alignment.only_b)
        if checkpoint != config.checkpoints[0]:
            mine, theirs = theirs, mine
        counts |= {"shared_tokens": alignment.shared, "only_this": mine, "only_other": theirs}
    if isinstance(config.rows, int):
        if config.rows > len(rows):
            raise ConfigError(
                f"Field 'rows' asks for {config.rows:,} rows, but only {len(rows):,} are available "
                f"({'shared by both checkpoints' if len(config.checkpoints) == 2 else 'in the vocabulary'})."
            )
        # the same subset for every seed and both checkpoints (positions in the aligned order)
        picked = np.sort(np.random.default_rng(0).choice(len(rows), size=config.rows, replace=False))
        rows = rows[picked]
    return table, rows, counts


def run_trial(config: EmbeddingMapConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import pandas as pd

    from embedxfer.analysis.projection import neighbour_recall, project
    from embedxfer.paths import write_atomic

    ctx.report({"phase": "reading the token-embedding matrix"})
    table, rows, metrics = map_rows(config, spec.condition)
    matrix = np.asarray(table.matrix[rows], dtype=np.float32)
    ctx.check_cancel()
    projection = project(
        matrix, config.method, config.projection_params(), spec.seed, progress=lambda m: ctx.report({"phase": m})
    )
    ctx.report({"phase": "served from the projection cache" if projection.cached else "map computed"})
    ctx.check_cancel()
    compared = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(
        {
            "row": rows,
            "token": [table.tokens[i] for i in rows],
            "surface": [table.surfaces[i] for i in rows],
            "kind": [table.kinds[i] for i in rows],
            "x": projection.coords[:, 0],
            "y": projection.coords[:, 1],
        }
    )
    if ctx.artifact_dir is not None:
        write_atomic(ctx.artifact_dir / MAP_ARTIFACT, frame.to_parquet(index=False))
    return metrics | {
        "rows": float(len(rows)),
        "width": float(matrix.shape[1]),
        "projection_cached": float(projection.cached),
        "projection_seconds": projection.seconds,
        "neighbour_recall": neighbour_recall(
            compared if config.metric == "cosine" else matrix, projection.coords, k=15, seed=0
        ),
    }


def estimate_seconds(config: EmbeddingMapConfig) -> float:
    """Rough CPU seconds per map of a 30k-row vocabulary (measured by bench/projection.py): PCA ~1 s, UMAP ~40 s,
    t-SNE a few minutes; scaled by the rows."""
    rows = config.rows if isinstance(config.rows, int) else 30000
    per_row = {"pca": 0.00003, "umap": 0.0013, "tsne": 0.006}[config.method]
    return 2.0 + rows * per_row
