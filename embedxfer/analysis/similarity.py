"""How similar two embedding matrices are, row by row over an aligned vocabulary: linear CKA, kNN overlap@k and the
orthogonal Procrustes residual, each with a shuffled-rows reference (the same measure after permuting one
matrix's rows, which keeps both spectra and breaks which token is which), so a value can be read against chance.

Rows must already be aligned (`embedxfer.analysis.vocab.align_tables`): row i of `a` and of `b` are one token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _centered(matrix: np.ndarray) -> np.ndarray:
    data = np.asarray(matrix, dtype=np.float64)
    return data - data.mean(axis=0, keepdims=True)


def linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019): 1 for matrices equal up to rotation and scale; any widths."""
    x, y = _centered(a), _centered(b)
    cross = np.linalg.norm(x.T @ y) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def principal_coordinates(matrix: np.ndarray, width: int) -> np.ndarray:
    """The centred rows' coordinates on their own top `width` principal axes (fitted on these rows only; float64),
    also when `width` is the full width: then the rows are rotated into their principal basis."""
    x = _centered(matrix)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:width].T


def pca_to(matrix: np.ndarray, width: int) -> np.ndarray:
    """The rows reduced to `width` by `principal_coordinates`; only centred when they are no wider (every measure
    here is rotation-invariant, so no SVD is spent on those)."""
    if matrix.shape[1] <= width:
        return _centered(matrix)
    return principal_coordinates(matrix, width)


def procrustes_residual(a: np.ndarray, b: np.ndarray) -> float:
    """min over rotations R and scale s of ||s·a·R - b||² with both centred and scaled to unit norm: 0 when `b`
    is a rotated, scaled copy of `a`, near 1 when they are unrelated. Widths must match (see `common_width`)."""
    x, y = _centered(a), _centered(b)
    x /= np.linalg.norm(x)
    y /= np.linalg.norm(y)
    singular = np.linalg.svd(x.T @ y, compute_uv=False)
    return float(max(0.0, 1.0 - singular.sum() ** 2))


def common_width(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Both matrices at the smaller width: the wider one reduced by PCA on its own rows (width returned), or both
    unchanged (None) when the widths already match."""
    if a.shape[1] == b.shape[1]:
        return a, b, None
    width = min(a.shape[1], b.shape[1])
    return pca_to(a, width), pca_to(b, width), width


def knn_lists(matrix: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Each row's k nearest other rows by cosine similarity, (rows, k)."""
    data = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    unit = data / np.maximum(norms, 1e-12)
    out = np.empty((len(unit), k), dtype=np.int64)
    for start in range(0, len(unit), chunk):
        sims = unit[start : start + chunk] @ unit.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        out[start : start + len(sims)] = np.argpartition(-sims, k, axis=1)[:, :k]
    return out


def overlap(lists_a: np.ndarray, lists_b: np.ndarray) -> float:
    """Mean share of a row's neighbours in `a` that are also its neighbours in `b`."""
    k = lists_a.shape[1]
    a_sorted, b_sorted = np.sort(lists_a, axis=1), np.sort(lists_b, axis=1)
    hits = [len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a_sorted, b_sorted, strict=True)]
    return float(np.mean(hits) / k)


def shuffled_lists(lists: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """The neighbour lists of `matrix[permutation]`, from those of `matrix` (no second search)."""
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation))
    return inverse[lists[permutation]]


@dataclass(frozen=True)
class Similarity:
    """The three measures of one aligned pair, with their shuffled-rows references."""

    cka: float
    cka_shuffled: float
    knn_overlap: float
    knn_overlap_shuffled: float
    procrustes_residual: float
    procrustes_residual_shuffled: float
    #: the width both were reduced to by PCA before Procrustes, None when their widths matched
    procrustes_width: int | None

    def metrics(self) -> dict[str, float]:
        out = {name: value for name, value in self.__dict__.items() if name != "procrustes_width"}
        out["procrustes_width"] = float(self.procrustes_width or 0)
        return out


def compare(a: np.ndarray, b: np.ndarray, *, k: int = 10, seed: int = 0, progress=None) -> Similarity:
    """All three measures of aligned `a` and `b`, each also on `b` with rows shuffled by `seed`."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"aligned matrices need the same rows, got {a.shape[0]} and {b.shape[0]}")
    k = min(k, a.shape[0] - 1)
    permutation = np.random.default_rng(seed).permutation(a.shape[0])
    shuffled = b[permutation]
    say = progress or (lambda _message: None)
    say("linear CKA")
    cka, cka_ref = linear_cka(a, b), linear_cka(a, shuffled)
    say(f"nearest neighbours (k={k}) in each checkpoint")
    lists_a, lists_b = knn_lists(a, k), knn_lists(b, k)
    knn, knn_ref = overlap(lists_a, lists_b), overlap(lists_a, shuffled_lists(lists_b, permutation))
    say("orthogonal Procrustes")
    pa, pb, width = common_width(a, b)
    residual, residual_ref = procrustes_residual(pa, pb), procrustes_residual(pa, pb[permutation])
    return Similarity(cka, cka_ref, knn, knn_ref, residual, residual_ref, width)
