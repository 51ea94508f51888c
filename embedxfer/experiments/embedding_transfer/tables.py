"""The embedding tables a trial trains on: a source's token-embedding matrix with the width and vocabulary controls
applied (`source_table`), and the baselines built from it (`baseline_table`). Pure numpy on cached matrices: the
token tables come from `embedxfer.analysis.vocab` (read once per checkpoint, then from disk, no model load).

Order of operations: PCA on the source's own rows (dim: pca:k), then the mapping onto the shared tokenizer's rows
(vocab: shared:<checkpoint>), then the baseline. Each baseline is drawn from the table the source condition uses, so
a source and its baselines differ only in what the baseline changes.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass

import numpy as np

from embedxfer.errors import ConfigError

_LOCK = threading.Lock()
_PCA_CACHE: dict[tuple[str, int], np.ndarray] = {}


@dataclass(frozen=True)
class SourceTable:
    """A source's table as the scorer sees it: row i is the vector of token id i of the tokenizer in use."""

    checkpoint: str
    matrix: np.ndarray  # (rows, width) float32
    native_width: int
    #: rows of the shared tokenizer filled from the source by token text / drawn from its row distribution
    mapped: int
    unmapped: int


def rng_for(seed: int, what: str) -> np.random.Generator:
    """A generator per (seed, purpose): baselines of one seed differ from each other and repeat exactly."""
    return np.random.default_rng([seed, zlib.crc32(what.encode())])


def pca_rows(matrix: np.ndarray, k: int) -> np.ndarray:
    """The rows projected on their top-k principal directions (centred; the variance along them is kept)."""
    from embedxfer.analysis.similarity import principal_coordinates

    if k > matrix.shape[1]:
        width = matrix.shape[1]
        raise ConfigError(f"dim pca:{k} is wider than the {width}-wide embedding; use k up to {width}.")
    return principal_coordinates(matrix, k).astype(np.float32)


def _reduced(fingerprint: str, matrix: np.ndarray, k: int | None) -> np.ndarray:
    if k is None:
        return np.asarray(matrix, dtype=np.float32)
    key = (fingerprint, k)
    with _LOCK:
        hit = _PCA_CACHE.get(key)
    if hit is None:
        hit = pca_rows(matrix, k)
        with _LOCK:
            _PCA_CACHE[key] = hit
    return hit


def map_rows(
    source: np.ndarray,
    source_surfaces: list[str],
    source_kinds: list[str],
    shared_surfaces: list[str],
    shared_kinds: list[str],
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """(a table with one row per shared-tokenizer row, rows mapped): a row whose token text the source has gets the
    source's row; every other row (special tokens included) is drawn from N(the source's per-dimension mean, std)."""
    from embedxfer.analysis.vocab import align

    alignment = align(shared_surfaces, shared_kinds, source_surfaces, source_kinds)
    mean, std = source.mean(axis=0), source.std(axis=0)
    out = rng.normal(mean, std, size=(len(shared_surfaces), source.shape[1])).astype(np.float32)
    out[alignment.rows_a] = source[alignment.rows_b]
    return out, len(alignment.rows_a)


def source_table(checkpoint: str, *, pca_width: int | None, shared: str | None, seed: int) -> SourceTable:
    """`checkpoint`'s token embeddings, reduced to `pca_width` (PCA on its own rows) and mapped onto `shared`'s
    tokenizer when given (unmapped rows drawn with `seed`)."""
    from embedxfer.analysis.vocab import token_table

    table = token_table(checkpoint)
    native_width = int(table.matrix.shape[1])
    matrix = _reduced(table.fingerprint, table.matrix, pca_width)
    if shared is None or shared == checkpoint:
        return SourceTable(checkpoint, matrix, native_width, mapped=len(matrix), unmapped=0)
    vocab = token_table(shared)
    mapped_matrix, mapped = map_rows(
        matrix, table.surfaces, table.kinds, vocab.surfaces, vocab.kinds, rng_for(seed, f"unmapped {checkpoint}")
    )
    return SourceTable(checkpoint, mapped_matrix, native_width, mapped=mapped, unmapped=len(mapped_matrix) - mapped)


def random_rotation(width: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random orthogonal matrix (QR of a Gaussian, signs fixed so the draw is Haar-distributed)."""
    q, r = np.linalg.qr(rng.standard_normal((width, width)))
    return q * np.sign(np.diag(r))


def rms(matrix: np.ndarray) -> float:
    """The root-mean-square entry of `matrix` (in float64)."""
    return float(np.sqrt(np.mean(np.square(matrix, dtype=np.float64))))


def unit_rms(matrix: np.ndarray) -> np.ndarray:
    """`matrix` / its root-mean-square entry: one scalar, so distances, angles and rotations are unchanged."""
    scale = rms(matrix)
    return (matrix / scale).astype(np.float32) if scale > 0 else matrix


def baseline_table(baseline: str | None, matrix: np.ndarray, seed: int) -> np.ndarray:
    """The table of a condition: the source's own (baseline None) or one of BASELINES built from it."""
    if baseline is None:
        return matrix
    rng = rng_for(seed, baseline)
    if baseline == "random-matched":
        return rng.normal(matrix.mean(axis=0), matrix.std(axis=0), size=matrix.shape).astype(np.float32)
    if baseline == "shuffled":
        return matrix[rng.permutation(len(matrix))]
    if baseline == "rotated":
        return (matrix.astype(np.float64) @ random_rotation(matrix.shape[1], rng)).astype(np.float32)
    if baseline == "scratch":
        # nn.Embedding's own initialisation, N(0, 1): what "a new model's embedding" starts from
        return rng.standard_normal(matrix.shape).astype(np.float32)
    raise ValueError(f"unknown baseline {baseline!r}")
