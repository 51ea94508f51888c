"""The rules that turn a paired interval into a claim's verdict, and helpers the kinds' claims share.

- A directional claim ("pretrained beats random by more than t") is **supported** when the whole 95% interval lies
  on the claimed side of t, **contradicted** when it lies wholly on the other side, and **inconclusive** when it
  spans t or comes from fewer than two seeds.
- A null-control claim ("rotated is within noise of its source") is **supported** when the interval covers t,
  **contradicted** when it excludes t, inconclusive with fewer than two seeds.
- A difference claim ("the cost depends on size", no direction) is supported when the interval excludes t; an
  interval covering t is inconclusive, since it cannot show the two are equal.
- **not tested by this run**: a condition, size or task the rule needs is missing; the result says what to add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedxfer.experiments.outputs import ClaimResult

if TYPE_CHECKING:
    from embedxfer.stats import Interval


def _has_interval(interval: Any) -> bool:
    import math

    return (
        interval.n >= 2
        and interval.ci_low is not None
        and interval.ci_high is not None
        and not (math.isnan(interval.ci_low) or math.isnan(interval.ci_high))
    )


def _result(verdict: str, interval: Interval, scope: str, detail: str) -> ClaimResult:
    return ClaimResult(verdict, scope, interval.mean, interval.ci_low, interval.ci_high, interval.n, detail)


def directional(interval: Interval, *, above: bool = True, threshold: float = 0.0, scope: str = "", detail: str = ""):
    """Supported when the interval lies wholly above (`above`) or below `threshold`, contradicted when wholly on
    the other side, else inconclusive."""
    if not _has_interval(interval):
        return _result("inconclusive", interval, scope, detail)
    if interval.ci_low > threshold if above else interval.ci_high < threshold:
        return _result("supported", interval, scope, detail)
    if interval.ci_high < threshold if above else interval.ci_low > threshold:
        return _result("contradicted", interval, scope, detail)
    return _result("inconclusive", interval, scope, detail)


def null_control(interval: Interval, *, threshold: float = 0.0, scope: str = "", detail: str = "") -> ClaimResult:
    """Supported when the interval covers `threshold`, contradicted when it excludes it."""
    if not _has_interval(interval):
        return _result("inconclusive", interval, scope, detail)
    covered = interval.ci_low <= threshold <= interval.ci_high
    return _result("supported" if covered else "contradicted", interval, scope, detail)


def differs(interval: Interval, *, threshold: float = 0.0, scope: str = "", detail: str = "") -> ClaimResult:
    """Supported when the interval excludes `threshold` (either side); covering it is inconclusive."""
    if not _has_interval(interval):
        return _result("inconclusive", interval, scope, detail)
    excluded = interval.ci_low > threshold or interval.ci_high < threshold
    return _result("supported" if excluded else "inconclusive", interval, scope, detail)


def not_tested(what_to_add: str, scope: str = "") -> list[ClaimResult]:
    """The result of a claim this run cannot test: `what_to_add` says what the config needs, e.g. "add `random` to
    conditions"."""
    return [ClaimResult("not tested", scope, detail=what_to_add)]


def paired(a: dict[int, float], b: dict[int, float]) -> Interval:
    """a minus b, seed by seed, over the seeds both have (mean, 95% t-interval, n)."""
    from embedxfer.stats import paired_difference

    return paired_difference(a, b)


def by_seed(frame: Any, column: str) -> dict[int, float]:
    """{seed: value} of `column` in a frame of completed trials (one row per seed)."""
    if frame.empty or column not in frame:
        return {}
    rows = frame.dropna(subset=[column])
    return dict(zip(rows["seed"].astype(int), rows[column].astype(float), strict=True))


def row_interval(row: Any) -> Interval:
    """The Interval of a paired-table row (attributes mean, low, high, n; NaN bounds when one seed had no
    interval)."""
    from embedxfer.stats import Interval

    low = None if row.low != row.low else row.low  # NaN != NaN
    return Interval(row.mean, low, None if low is None else row.high, int(row.n))
