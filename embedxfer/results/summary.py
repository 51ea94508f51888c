"""The one summary of an experiment, and its one primary metric.

Every view of an experiment's results (the CLI's JSON, the run page's table, the HTML report, the figures)
reads the summary computed here: per (condition, the kind's group params) and metric, the mean over the
completed trials' seeds with a 95% Student-t interval (`embedxfer.stats`; none from one seed: ci_low and ci_high
null, shown as "n=1, no interval"). The primary metric, shown first everywhere, is the kind's
(`ExperimentKind.primary_metric_for`); for a kind that is no longer installed it is the first test metric present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import get_kind
from embedxfer.stats import format_ci, format_interval, mean_interval

#: Metrics the summary table and the report show (training-time numbers stay in the per-trial view).
SHOWN_PREFIXES = ("test_", "val_")


def _kind_or_none(kind: str):
    try:
        return get_kind(kind)
    except EmbedxferError:  # a kind from a plugin that is no longer installed: still show its results
        return None


def primary_metric(kind: str, config: Mapping[str, Any], available: Iterable[str] = ()) -> str:
    """The metric an experiment of `kind` with stored `config` is judged by."""
    spec = _kind_or_none(kind)
    if spec is not None:
        return spec.primary_metric_for(config)
    names = [m for m in available if str(m).startswith("test_") and m != "test_loss"]
    return sorted(names)[0] if names else "test_accuracy"


def group_params(kind: str) -> tuple[str, ...]:
    """The trial params that, with the condition, define a summary group for `kind`."""
    spec = _kind_or_none(kind)
    return tuple(spec.group_params) if spec is not None else ()


def shown_in_summary(kind: str, metric: str, primary: str | None = None) -> bool:
    """Whether the summary table, the report and `show` list `metric`: test/val metrics, the primary metric and
    the ones the kind names (`ExperimentKind.summary_metrics`, e.g. the similarity measures' shuffled references)."""
    spec = _kind_or_none(kind)
    extra = tuple(spec.summary_metrics) if spec is not None else ()
    return metric.startswith(SHOWN_PREFIXES) or metric == primary or metric in extra


def json_number(value: Any) -> Any:
    """NaN and infinities are not JSON: None instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize_trials(
    trials: list[dict[str, Any]],
    metrics: Mapping[str, Mapping[str, float | None]],
    *,
    group_by: tuple[str, ...],
    primary: str,
) -> list[dict[str, Any]]:
    """[{condition, params, metric, mean, ci_low, ci_high, n}] over the completed trials, groups in first-seen
    order, the primary metric first within each group; metrics without a finite value in a group are left out.
    ci_low and ci_high are None (JSON null) for a group of one seed."""
    names = sorted({name for values in metrics.values() for name in values}, key=lambda m: (m != primary, m))
    groups: dict[str, tuple[str, dict[str, Any], list[Mapping[str, float | None]]]] = {}
    for trial in trials:
        if trial["status"] != "completed":
            continue
        # a group param the trial does not have is left out (layer_reinit: `layer` only on probe trials)
        params = {p: trial["params"][p] for p in group_by if p in trial["params"]}
        key = json.dumps([trial["condition"], params], sort_keys=True, default=str)
        groups.setdefault(key, (trial["condition"], params, []))[2].append(metrics.get(trial["trial_id"], {}))
    summary = []
    for condition, params, rows in groups.values():
        for name in names:
            interval = mean_interval([r.get(name) for r in rows], method="t")
            if interval.n:
                values = {k: json_number(v) for k, v in interval.to_dict().items()}
                summary.append({"condition": condition, "params": params, "metric": name, **values})
    return summary


def summary_table(result: Mapping[str, Any], primary: str | None = None) -> Any:
    """The summary as a table: one row per (condition, group), a 'mean [low, high]' (or 'mean (n=1, no interval)')
    column per test/val metric (the primary one first) and n. What the run page and the HTML report show."""
    import pandas as pd

    rows: dict[tuple, dict[str, Any]] = {}
    metrics: list[str] = []
    for item in result["summary"]:
        metric = item["metric"]
        if not shown_in_summary(result["kind"], metric, primary):
            continue
        params = ", ".join(f"{k}={v}" for k, v in item["params"].items())
        row = rows.setdefault(
            (item["condition"], params), {"condition": item["condition"], **({"group": params} if params else {})}
        )
        row[metric] = format_interval(item["mean"], item["ci_low"], item["ci_high"], item["n"])
        row["n"] = item["n"]
        if metric not in metrics:
            metrics.append(metric)
    metrics.sort(key=lambda m: (m != primary, not m.startswith("test_"), m))
    frame = pd.DataFrame(list(rows.values()))
    front = [c for c in ("condition", "group") if c in frame]
    return frame[[*front, *metrics, "n"]] if not frame.empty else frame


#: The column that replaces a paired table's low and high when it is shown (`with_interval_text`).
INTERVAL_COLUMN = "95% CI"


def with_interval_text(frame: Any, number: str | Callable[[Any], str] = ".4g") -> Any:
    """A table with numeric `low`, `high` and `n` columns (a kind's paired comparisons) as it is shown: low and high
    replaced, where low stood, by one text column '[low, high]', or 'n=1, no interval' for a row without an
    interval. The run page, the HTML report and `show` all print paired tables through this; the kinds' figures
    read the numeric frame. A frame without those columns is returned unchanged."""
    if not {"low", "high", "n"} <= set(frame.columns):
        return frame
    text = [format_ci(lo, hi, n, number) for lo, hi, n in zip(frame["low"], frame["high"], frame["n"], strict=True)]
    shown = frame.drop(columns=["high"]).rename(columns={"low": INTERVAL_COLUMN})
    shown[INTERVAL_COLUMN] = text
    return shown
