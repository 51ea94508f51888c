"""Stitch initialisation: least squares from A's hidden state i to B's hidden state j over real tokens, its R^2,
and the random-stitch control (a random map rescaled to the target's per-dimension mean and spread)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AffineMap:
    """y = x @ weight.T + bias, weight (out, in): the stitch's parameters as nn.Linear stores them."""

    weight: torch.Tensor
    bias: torch.Tensor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.double() @ self.weight.double().T + self.bias.double()


def r_squared(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - residual / total sum of squares, pooled over every dimension of the target (a map that predicts each
    dimension's mean scores 0; it can go below 0)."""
    target = target.double()
    residual = (target - predicted.double()).pow(2).sum()
    total = (target - target.mean(0)).pow(2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")


def fit_least_squares(x: torch.Tensor, y: torch.Tensor) -> AffineMap:
    """The affine map minimising ||x W^T + b - y||^2 over rows (tokens); x (n, in), y (n, out). Solved in float64
    on centred data (the bias is then the means' difference), which keeps the system well conditioned."""
    x64, y64 = x.double(), y.double()
    x_mean, y_mean = x64.mean(0), y64.mean(0)
    # gelsd handles a rank-deficient system (fewer tokens than dimensions) with the minimum-norm solution
    solution = torch.linalg.lstsq(x64 - x_mean, y64 - y_mean, driver="gelsd").solution  # (in, out)
    return AffineMap(weight=solution.T.contiguous(), bias=y_mean - x_mean @ solution)


def random_map(x: torch.Tensor, y: torch.Tensor, seed: int) -> AffineMap:
    """A Gaussian random map whose outputs on `x` have the per-dimension mean and standard deviation of `y`: the
    right scale for B's blocks, with no learned correspondence between A's and B's dimensions."""
    generator = torch.Generator().manual_seed(int(seed))
    weight = torch.randn(y.shape[1], x.shape[1], generator=generator, dtype=torch.float64) / x.shape[1] ** 0.5
    raw = x.double() @ weight.T  # (n, out)
    scale = y.double().std(0) / raw.std(0).clamp_min(1e-12)
    weight = weight * scale[:, None]
    bias = y.double().mean(0) - raw.mean(0) * scale
    return AffineMap(weight=weight, bias=bias)
