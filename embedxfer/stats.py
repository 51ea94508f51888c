"""Summary statistics over seeds: a mean with a 95% interval.

Results are never shown from one seed alone when more exist (docs/architecture.md, "Store and results"), so every
summary goes through `mean_interval`. Two methods:

- ``"t"`` (default): Student-t interval, mean +- t_{(1+c)/2, n-1} * s / sqrt(n), with s the sample
  standard deviation (ddof=1). Right for the 3-5 seeds a typical experiment has.
- ``"bootstrap"``: percentile bootstrap of the mean (seeded, so the same values give the same interval).

With one value the interval collapses to the mean (ci_low == ci_high == mean); with none, all three
are NaN and n is 0. Non-finite values (NaN from a diverged run, None) are dropped before counting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its confidence interval."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    method: str = "t"

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def finite_values(values: Iterable[Any]) -> np.ndarray:
    """The finite numbers among `values` as a float array (None, NaN, inf and non-numbers dropped)."""
    out = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out.append(number)
    return np.asarray(out, dtype=float)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _degenerate(x: np.ndarray, method: str) -> Interval | None:
    """The interval when there is nothing to estimate: no values, or one."""
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, method)
    if x.size == 1:
        m = float(x[0])
        return Interval(m, m, m, 1, method)
    return None


def t_interval(values: Iterable[Any], confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval of the finite `values`."""
    from scipy import stats

    _check_confidence(confidence)
    x = finite_values(values)
    if (early := _degenerate(x, "t")) is not None:
        return early
    n = x.size
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1)) * sem
    return Interval(mean, mean - half, mean + half, n, "t")


def bootstrap_interval(
    values: Iterable[Any], confidence: float = 0.95, *, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean and percentile-bootstrap interval of the finite `values` (deterministic for a given seed)."""
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    x = finite_values(values)
    if (early := _degenerate(x, "bootstrap")) is not None:
        return early
    rng = np.random.default_rng(seed)
    # All resamples at once: an (n_resamples, n) index matrix is tiny for seed counts.
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(float(x.mean()), float(low), float(high), int(x.size), "bootstrap")


def mean_interval(values: Iterable[Any], confidence: float = 0.95, method: str = "t", **kwargs: Any) -> Interval:
    """Mean and interval by `method` ("t" or "bootstrap"; bootstrap takes n_resamples and seed)."""
    if method == "t":
        return t_interval(values, confidence)
    if method == "bootstrap":
        return bootstrap_interval(values, confidence, **kwargs)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def summarize(
    frame: Any,
    by: Sequence[str],
    metrics: Sequence[str],
    *,
    confidence: float = 0.95,
    method: str = "t",
) -> Any:
    """One row per group of `by` and metric: by-columns, metric, mean, ci_low, ci_high, n.

    `frame` is a pandas DataFrame with one row per trial (e.g. `Store.final_metrics_frame`). Groups keep
    the order in which they first appear; groups with no finite value for a metric are left out.
    """
    import pandas as pd

    rows = []
    grouped = frame.groupby(list(by), sort=False, dropna=False) if by else [((), frame)]
    for key, group in grouped:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in group.columns:
                continue
            interval = mean_interval(group[metric].tolist(), confidence, method)
            if interval.n == 0:
                continue
            rows.append({**dict(zip(by, key, strict=True)), "metric": metric, **interval.to_dict()})
    columns = [*by, "metric", "mean", "ci_low", "ci_high", "n"]
    return pd.DataFrame(rows, columns=columns)


def paired_difference(a: Mapping[Any, Any], b: Mapping[Any, Any], confidence: float = 0.95) -> Interval:
    """The paired difference a - b over the keys both have with finite values (a key is e.g. a seed, or a
    (seed, train size) pair): differences are taken pair by pair, then `t_interval` over them (n = pairs).
    Pairing removes what the two conditions share per seed (the data subset, the head's init), so its interval is
    the one to read when asking whether a condition beats another."""
    diffs = []
    for key in a.keys() & b.keys():
        x, y = finite_values([a[key]]), finite_values([b[key]])
        if x.size and y.size:
            diffs.append(float(x[0] - y[0]))
    return t_interval(diffs, confidence)
