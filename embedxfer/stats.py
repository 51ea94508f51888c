"""Summary statistics over seeds: a mean with a 95% interval.

Results are never shown from one seed alone when more exist (docs/architecture.md, "Store and results"), so every
summary goes through `mean_interval`. Two methods:

- ``"t"`` (default): Student-t interval, mean +- t_{(1+c)/2, n-1} * s / sqrt(n), with s the sample
  standard deviation (ddof=1). Right for the 3-5 seeds a typical experiment has.
- ``"bootstrap"``: percentile bootstrap of the mean (seeded, so the same values give the same interval).

With one value there is no interval: ci_low and ci_high are None (an interval from one value is undefined, and
drawing it zero-wide would read as certainty); with none, the mean is NaN too and n is 0. Non-finite values (NaN
from a diverged run, None) are dropped before counting. Every view says "n=1, no interval" through
`format_interval` / `format_ci`, the one place that spells an interval as text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its confidence interval; ci_low and ci_high are None when n < 2 (no interval)."""

    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str = "t"

    @property
    def has_interval(self) -> bool:
        """False for fewer than two values: then there is a mean (or NaN) and no interval."""
        return has_interval(self.ci_low, self.ci_high, self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}

    def text(self, number: str | Callable[[Any], str] = ".4g") -> str:
        """'mean [low, high]', or 'mean (n=1, no interval)' (see `format_interval`)."""
        return format_interval(self.mean, self.ci_low, self.ci_high, self.n, number)


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _count(n: Any) -> int:
    """n as an int; 0 for a missing or non-numeric count (a NaN cell of a table)."""
    return int(n) if _finite(n) else 0


def has_interval(low: Any, high: Any, n: Any) -> bool:
    """Whether (low, high) is an interval to show: from at least two values, both ends finite numbers."""
    return _count(n) >= 2 and _finite(low) and _finite(high)


def _formatter(number: str | Callable[[Any], str]) -> Callable[[Any], str]:
    return number if callable(number) else (lambda value: format(float(value), number))


def no_interval_note(n: Any) -> str:
    """What stands where an interval would: 'n=1, no interval' (and 'n=0, no interval' for no values)."""
    return f"n={_count(n)}, no interval"


def format_ci(low: Any, high: Any, n: Any, number: str | Callable[[Any], str] = ".4g") -> str:
    """'[low, high]', or 'n=1, no interval' when there is none (n < 2): for a table's interval column. `number` is
    a format spec or a function formatting one number."""
    if not has_interval(low, high, n):
        return no_interval_note(n)
    fmt = _formatter(number)
    return f"[{fmt(low)}, {fmt(high)}]"


def format_interval(mean: Any, low: Any, high: Any, n: Any, number: str | Callable[[Any], str] = ".4g") -> str:
    """'mean [low, high]', or 'mean (n=1, no interval)' when there is none; '– (n=0, no interval)' without a mean.
    The one spelling of a mean with its interval (tables, the report, figure labels)."""
    fmt = _formatter(number)
    shown = fmt(mean) if _finite(mean) else "–"
    if has_interval(low, high, n):
        return f"{shown} {format_ci(low, high, n, fmt)}"
    return f"{shown} ({no_interval_note(n)})"


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
    """The interval when there is nothing to estimate: no values, or one. One value has a mean but no interval
    (None, not a zero-width one: a spread cannot be estimated from one value)."""
    if x.size == 0:
        return Interval(math.nan, None, None, 0, method)
    if x.size == 1:
        return Interval(float(x[0]), None, None, 1, method)
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
    """One row per group of `by` and metric: by-columns, metric, mean, ci_low, ci_high, n (ci_low and ci_high
    None where n is 1).

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
    the one to read when asking whether a condition beats another. One pair gives its difference and no interval."""
    diffs = []
    for key in a.keys() & b.keys():
        x, y = finite_values([a[key]]), finite_values([b[key]])
        if x.size and y.size:
            diffs.append(float(x[0] - y[0]))
    return t_interval(diffs, confidence)
