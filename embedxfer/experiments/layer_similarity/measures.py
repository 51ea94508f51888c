"""The layer x layer grid of one measure, in torch: the observed values, a permutation null and a bootstrap interval.

Inputs are every layer's pooled features of the same examples in both models, stacked as (layers, rows, width);
the rows are aligned by example, so the two models may differ in tokenizer and width. All cells of the grid come out
of one matrix product per draw (every layer of A against every layer of B at once), which is what makes the nulls
and intervals affordable (bench/layer_similarity.py).

- `cka`: linear CKA with the debiased (unbiased HSIC, U-statistic) estimator on centred features. Higher = more
  similar; 1 for a layer against itself; about 0 for independent features.
- `mutual_knn`: mutual k-nearest-neighbour alignment (Huh et al. 2024): the share of each example's k nearest
  examples (cosine) that are its nearest in both models, averaged over examples. Higher = more similar.
- `procrustes`: the orthogonal Procrustes distance after PCA of each layer to a common width, on centred features
  scaled to unit Frobenius norm: sqrt(2 - 2 ||X^T Y||_*), in [0, sqrt(2)]. Lower = more similar.

A null draw permutes B's rows (the pairing of examples is broken, everything else kept); a bootstrap draw resamples
examples with replacement (the interval: percentiles of the draws, moved by their bias). For mutual_knn the
neighbour graphs are computed once on all rows and the bootstrap resamples the per-example scores, since duplicated
rows would be each other's nearest neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MEASURES = ("cka", "mutual_knn", "procrustes")
_ARRAYS = ("observed", "null_mean", "null_p", "ci_low", "ci_high")
#: whether a higher value means more similar (procrustes is a distance)
HIGHER_IS_MORE_SIMILAR = {"cka": True, "mutual_knn": True, "procrustes": False}
#: the values each measure can take (debiased CKA dips a little below 0 by chance)
_RANGE = {"cka": (-1.0, 1.0), "mutual_knn": (0.0, 1.0), "procrustes": (0.0, 2**0.5)}


@dataclass
class Grid:
    """One measure over every (layer of A, layer of B) cell; arrays are (layers_a, layers_b)."""

    measure: str
    observed: np.ndarray
    null_mean: np.ndarray
    #: share of null draws at least as similar as the observed value, (1 + count) / (1 + draws)
    null_p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    permutations: int
    bootstraps: int

    def to_dict(self) -> dict:
        arrays = {name: getattr(self, name).tolist() for name in _ARRAYS}
        return {
            "measure": self.measure,
            "higher_is_more_similar": HIGHER_IS_MORE_SIMILAR[self.measure],
            "permutations": self.permutations,
            "bootstraps": self.bootstraps,
            **arrays,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Grid:
        arrays = {name: np.asarray(data[name], dtype=float) for name in _ARRAYS}
        return cls(data["measure"], permutations=data["permutations"], bootstraps=data["bootstraps"], **arrays)


def best_matches(grid: Grid) -> list[int]:
    """For each hidden state of A, the hidden state of B most similar to it (the smallest distance for procrustes)."""
    values = grid.observed if HIGHER_IS_MORE_SIMILAR[grid.measure] else -grid.observed
    return [int(j) for j in np.argmax(values, axis=1)]


def depth_match(layer: int, layers_a: int, layers_b: int) -> int:
    """B's hidden state at the relative depth of A's hidden state `layer` (0 = embeddings; L = last block), rounded
    half up as stitching's depth pairs are."""
    return math.floor(layer * layers_b / layers_a + 0.5) if layers_a else 0


# --- the measures on stacked layers: (layers, rows, width) -> (layers_a, layers_b) --------------------------------


def _centred(stack: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Rows minus their (weighted) mean."""
    if weights is None:
        return stack - stack.mean(dim=1, keepdim=True)
    return stack - (weights[None, :, None] * stack).sum(1, keepdim=True) / weights.sum()


def _cross_products(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """X_l^T diag(w) Y_m for every layer pair, from one product: (layers_a, layers_b, width_a, width_b)."""
    la, n, wa = a.shape
    lb, _, wb = b.shape
    left = a if weights is None else a * weights[None, :, None]
    flat = left.permute(1, 0, 2).reshape(n, la * wa).T @ b.permute(1, 0, 2).reshape(n, lb * wb)
    return flat.reshape(la, wa, lb, wb).permute(0, 2, 1, 3)


def _debiased_terms(
    x: torch.Tensor, y: torch.Tensor, cross_sq: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    """Unbiased HSIC of centred stacks up to the factor 1/(n(n-3)), which cancels in CKA.

    With K = X X^T with its diagonal zeroed, the U-statistic is tr(K L) + (1'K1)(1'L1)/((n-1)(n-2)) - 2/(n-2) 1'KL1;
    on centred features 1'K1 = -sum_i |x_i|^2 and K1 = -|x_i|^2. A bootstrap resample enters as row counts c (with
    c-weighted centring): sums over pairs of resampled rows skip pairs drawn from the same example, as the diagonal
    is skipped, which gives |X'CY|^2 - sum c^2 ab + (sum c^2 a)(sum c^2 b)/((n-1)(n-2)) - 2/(n-2) sum c^3 ab. Without
    that, duplicated rows would look like shared structure and inflate CKA.
    """
    n = x.shape[1]
    row_x, row_y = (x * x).sum(-1), (y * y).sum(-1)  # (layers, rows)
    if weights is None:
        c2 = c3 = None
        dot2 = dot3 = row_x @ row_y.T
        totals = row_x.sum(-1)[:, None] * row_y.sum(-1)[None, :]
    else:
        c2, c3 = weights.square(), weights.pow(3)
        dot2, dot3 = (row_x * c2) @ row_y.T, (row_x * c3) @ row_y.T
        totals = (row_x * c2).sum(-1)[:, None] * (row_y * c2).sum(-1)[None, :]
    return cross_sq - dot2 - 2 / (n - 2) * dot3 + totals / ((n - 1) * (n - 2))


def _self_hsic(stack: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    left = stack if weights is None else stack * weights[None, :, None]
    gram_sq = (left.transpose(1, 2) @ stack).square().sum((-1, -2))  # |X^T C X|_F^2 per layer
    return _debiased_terms(stack, stack, gram_sq[:, None], weights).diagonal()


def cka_grid(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Debiased linear CKA of every layer of `a` against every layer of `b` (`weights`: a resample's row counts)."""
    x, y = _centred(a, weights), _centred(b, weights)
    hsic = _debiased_terms(x, y, _cross_products(x, y, weights).square().sum((-1, -2)), weights)
    norm = (_self_hsic(x, weights).clamp_min(0)[:, None] * _self_hsic(y, weights).clamp_min(0)[None, :]).sqrt()
    return hsic / norm.clamp_min(1e-30)


def procrustes_grid(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Orthogonal Procrustes distance of every layer pair (stacks already reduced to a common width); `weights` (a
    resample's row counts) weigh rows as if duplicated."""
    import torch

    x, y = _unit(_centred(a, weights), weights), _unit(_centred(b, weights), weights)
    cross = _cross_products(x, y, weights)
    # ||M||_* from the eigenvalues of M M^T: much faster than an SVD on CPU and exact up to rounding
    with _lapack_guard(cross):
        nuclear = torch.linalg.eigvalsh(cross @ cross.transpose(-1, -2)).clamp_min(0).sqrt().sum(-1)
    return (2 - 2 * nuclear).clamp_min(0).sqrt()


def _lapack_guard(tensor: torch.Tensor):
    """One BLAS/LAPACK thread for a decomposition on the CPU. Multithreaded eigendecompositions spin-wait on each
    other; on a machine with more busy threads than cores (two trials at once, a test run beside the dashboard) one
    that takes 0.05 s alone was measured at 30-140 s. Single-threaded it stays under a second."""
    from contextlib import nullcontext

    if tensor.device.type != "cpu":
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _unit(stack: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    squares = stack.square() if weights is None else stack.square() * weights[None, :, None]
    return stack / squares.sum((1, 2), keepdim=True).sqrt().clamp_min(1e-30)


def principal_stack(stack: torch.Tensor, width: int) -> torch.Tensor:
    """Each layer's centred rows on its first `width` principal axes: (layers, rows, width)."""
    import torch

    x = _centred(stack)
    # eigenvectors of the small covariance (width x width) rather than an SVD of the rows, for speed on CPU
    with _lapack_guard(x):
        values, vectors = torch.linalg.eigh(x.transpose(1, 2) @ x)
    top = vectors.flip(-1)[..., :width]
    return x @ top


def knn_members(stack: torch.Tensor, k: int) -> torch.Tensor:
    """(layers, rows, rows) 0/1: row i's k nearest other rows by cosine, per layer."""
    import torch

    unit = stack / stack.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    members = []
    for layer in unit:
        similarity = layer @ layer.T
        similarity.fill_diagonal_(-float("inf"))
        # a stable sort breaks ties (identical examples) by row order, so the neighbour sets do not depend on the
        # backend's tie order
        nearest = similarity.sort(dim=-1, descending=True, stable=True).indices[:, :k]
        # 0/1 memberships: single precision is exact and halves the (rows x rows) memory
        member = torch.zeros(similarity.shape, dtype=torch.float32, device=similarity.device)
        member.scatter_(1, nearest, 1.0)
        members.append(member)
    return torch.stack(members)


def knn_scores(members_a: torch.Tensor, members_b: torch.Tensor, k: int) -> torch.Tensor:
    """Per-example mutual-kNN agreement of every layer pair: (layers_a, layers_b, rows)."""
    import torch

    return torch.einsum("lij,mij->lmi", members_a, members_b) / k


# --- nulls and intervals ----------------------------------------------------------------------------------------------


def measure_grid(
    measure: str,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    k: int = 10,
    width: int | None = None,
    permutations: int = 10,
    bootstraps: int = 50,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Grid:
    """The grid of `measure` for stacks `a` (layers_a, rows, width_a) and `b` (layers_b, rows, width_b): observed,
    the mean and p of `permutations` null draws, and the 95% percentile interval of `bootstraps` resamples."""
    import torch

    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; measures: {', '.join(MEASURES)}")
    n = a.shape[1]
    generator = torch.Generator().manual_seed(seed)
    total, done = 1 + permutations + bootstraps, 0

    def tick(draws: int = 1) -> None:
        nonlocal done
        done += draws
        if cancelled is not None and cancelled():
            from embedxfer.trials import TrialCancelled

            raise TrialCancelled()
        if progress is not None:
            progress(done, total)

    if measure == "mutual_knn":
        members_a, members_b = knn_members(a, k), knn_members(b, k)
        scores = knn_scores(members_a, members_b, k)
        observed = scores.mean(-1)
        tick()
        nulls = []
        for _ in range(permutations):
            order = torch.randperm(n, generator=generator).to(a.device)
            shuffled = members_b[:, order][:, :, order]  # B's neighbour graph with its rows re-paired
            nulls.append(knn_scores(members_a, shuffled, k).mean(-1))
            tick()
        weights = _bootstrap_weights(bootstraps, n, generator).to(scores)
        resampled = torch.einsum("lmi,bi->blm", scores, weights)
        tick(bootstraps)
    else:
        if measure == "procrustes":
            width = min(width or a.shape[2], a.shape[2], b.shape[2], n)
            a, b = principal_stack(a, width), principal_stack(b, width)
        grid = cka_grid if measure == "cka" else procrustes_grid
        observed = grid(a, b)
        tick()
        nulls = []
        for _ in range(permutations):
            order = torch.randperm(n, generator=generator).to(a.device)
            nulls.append(grid(a, b[:, order]))
            tick()
        draws = []
        for counts in _bootstrap_weights(bootstraps, n, generator) * n:
            draws.append(grid(a, b, counts.to(a)))
            tick()
        resampled = torch.stack(draws) if draws else observed.new_zeros((0, *observed.shape))
    return _summarise(measure, observed, nulls, resampled, permutations, bootstraps)


def _bootstrap_weights(bootstraps: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """(bootstraps, rows): each resample's row counts divided by rows (a weighted mean is the resample's mean)."""
    import torch

    rows = torch.randint(0, n, (bootstraps, n), generator=generator)
    counts = torch.zeros(bootstraps, n, dtype=torch.float64)
    counts.scatter_add_(1, rows, torch.ones_like(rows, dtype=torch.float64))
    return counts / n


def _summarise(
    measure: str,
    observed: torch.Tensor,
    nulls: list[torch.Tensor],
    resampled: torch.Tensor,
    permutations: int,
    bootstraps: int,
) -> Grid:
    observed_np = observed.double().cpu().numpy()
    nan = np.full_like(observed_np, np.nan)
    if nulls:
        null = np.stack([draw.double().cpu().numpy() for draw in nulls])
        at_least = null >= observed_np if HIGHER_IS_MORE_SIMILAR[measure] else null <= observed_np
        null_mean, null_p = null.mean(0), (1 + at_least.sum(0)) / (1 + len(nulls))
    else:
        null_mean, null_p = nan, nan
    if bootstraps >= 2:
        # percentiles of the draws moved by their bias (observed - their mean): a resample's duplicated rows shift
        # some measures (they shrink the Procrustes distance) by more than the draws spread, which would leave the
        # observed value outside a plain percentile interval
        draws = resampled.double().cpu().numpy()
        shifted = draws + (observed_np - draws.mean(0))
        low, high = (np.clip(q, *_RANGE[measure]) for q in np.percentile(shifted, [2.5, 97.5], axis=0))
    else:
        low, high = nan, nan
    return Grid(measure, observed_np, null_mean, null_p, low, high, permutations, bootstraps)
