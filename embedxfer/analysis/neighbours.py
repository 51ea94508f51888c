"""Nearest tokens of a query token, by cosine similarity on the full-width embedding (not the 2-D map), and the
overlap of two checkpoints' neighbour lists by token text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedxfer.analysis.vocab import TokenTable, close_matches, find_token
from embedxfer.errors import EmbedxferError


@dataclass(frozen=True)
class Neighbours:
    checkpoint: str
    query: str  # the token as this tokenizer writes it
    row: int
    tokens: list[str]
    surfaces: list[str]
    similarities: list[float]


def not_found(table: TokenTable, query: str) -> EmbedxferError:
    """The error for a token `table` lacks, with close spellings it does have."""
    near = close_matches(table, query)
    hint = f" Close matches: {', '.join(near)}." if near else ""
    return EmbedxferError(f"{query!r} is not a token of {table.checkpoint}'s vocabulary ({table.rows:,} rows).{hint}")


def nearest(table: TokenTable, query: str, k: int = 10) -> Neighbours:
    """The k tokens nearest to `query` in `table` (cosine on the embedding rows); EmbedxferError when absent."""
    row = find_token(table, query)
    if row is None:
        raise not_found(table, query)
    matrix = np.asarray(table.matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    sims = matrix @ matrix[row] / np.maximum(norms * norms[row], 1e-12)
    sims[row] = -np.inf
    k = min(k, table.rows - 1)
    top = np.argpartition(-sims, k)[:k]
    top = top[np.argsort(-sims[top])]
    return Neighbours(
        table.checkpoint,
        table.tokens[row],
        row,
        [table.tokens[i] for i in top],
        [table.surfaces[i] for i in top],
        [float(sims[i]) for i in top],
    )


def neighbour_overlap(a: Neighbours, b: Neighbours) -> float:
    """Share of a's neighbours (by the text they stand for) that are among b's."""
    if not a.surfaces:
        return 0.0
    return len(set(a.surfaces) & set(b.surfaces)) / len(a.surfaces)
