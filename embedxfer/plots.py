"""Plotly figure builders: pure functions from data frames to figures.

Pages, the CLI's HTML/PNG export and tests all call these; none of them reads the store.
Intervals are 95% over seeds (see `embedxfer.stats`). A point from a single seed has no interval: it is drawn
without a whisker or band (never a zero-width one) and its hover text says "n=1, no interval".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from embedxfer.stats import format_ci, has_interval, mean_interval

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#475569")
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.2))


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def whiskers(
    means: Iterable[Any], lows: Iterable[Any], highs: Iterable[Any], ns: Iterable[Any], thickness: float = 1.5
) -> dict[str, Any]:
    """A trace's `error_y`: asymmetric whiskers from low to high per point, none where a point has no interval
    (n < 2, or a missing end), and `visible=False` when no point has one."""
    plus, minus = [], []
    for mean, low, high, n in zip(means, lows, highs, ns, strict=True):
        shown = has_interval(low, high, n)
        plus.append(float(high) - float(mean) if shown else np.nan)
        minus.append(float(mean) - float(low) if shown else np.nan)
    if not any(np.isfinite(plus)):
        return dict(visible=False)
    # NumPy arrays, not lists: plotly writes them as typed arrays, which keep NaN, and plotly.js draws no whisker
    # for a NaN. A list would carry NaN as JSON null, which plotly.js reads as 0: a zero-width whisker.
    return dict(
        type="data",
        symmetric=False,
        array=np.asarray(plus, dtype=float),
        arrayminus=np.asarray(minus, dtype=float),
        color="#111827",
        thickness=thickness,
    )


def interval_whiskers(stats: list[Any], thickness: float = 1.5) -> dict[str, Any]:
    """`whiskers` for a list of `stats.Interval`s: from ci_low to ci_high, none for a point without an interval."""
    return whiskers(
        [s.mean for s in stats], [s.ci_low for s in stats], [s.ci_high for s in stats], [s.n for s in stats], thickness
    )


def interval_hover(lows: Iterable[Any], highs: Iterable[Any], ns: Iterable[Any]) -> list[str]:
    """Per point, '95% CI [low, high], n=3' or 'n=1, no interval': the interval part of a hover text."""
    return [
        f"95% CI {format_ci(low, high, n, '.4f')}, n={int(n)}"
        if has_interval(low, high, n)
        else format_ci(low, high, n)
        for low, high, n in zip(lows, highs, ns, strict=True)
    ]


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A figure that says why there is nothing to plot (instead of blank axes)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, font=dict(size=14, color="#64748b"), x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_layout(title=title, xaxis=dict(visible=False), yaxis=dict(visible=False), **LAYOUT)
    return fig


def plot_condition_summary(
    trials: pd.DataFrame,
    metric: str,
    *,
    group: str | None = None,
    title: str = "",
    references: dict[Any, dict[str, tuple[float, str]]] | None = None,
) -> go.Figure:
    """Mean of `metric` per condition with 95% interval bars over seeds; individual seeds as dots.

    `trials` has one row per completed trial with columns `condition`, `seed`, `metric` (and `group`).
    `references` ({group value: {condition: (value, hover text)}}) draws published values as hollow diamonds over
    their bars, in one legend entry "published": clicking it hides or shows them all.
    """
    title = title or f"{metric} by condition (mean, 95% CI over seeds)"
    if trials.empty or metric not in trials or trials[metric].dropna().empty:
        return empty_figure(f"No completed trials with {metric} yet.", title)
    fig = go.Figure()
    groups = [None] if group is None or group not in trials else sorted(trials[group].dropna().unique())
    conditions = list(dict.fromkeys(trials["condition"]))
    for gi, gval in enumerate(groups):
        part = trials if gval is None else trials[trials[group] == gval]
        stats = [mean_interval(part.loc[part["condition"] == c, metric]) for c in conditions]
        name = metric if gval is None else f"{group}={gval}"
        fig.add_trace(
            go.Bar(
                x=conditions,
                y=[s.mean for s in stats],
                name=name,
                offsetgroup=str(gi),
                marker_color=rgba(_color(gi), 0.75),
                error_y=interval_whiskers(stats),
                customdata=interval_hover([s.ci_low for s in stats], [s.ci_high for s in stats], [s.n for s in stats]),
                hovertemplate="%{x}<br>mean %{y:.4f}<br>%{customdata}<extra>" + name + "</extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=part["condition"],
                y=part[metric],
                mode="markers",
                showlegend=False,
                name=f"{name} seeds",
                marker=dict(color=_color(gi), size=7, line=dict(color="white", width=1)),
                text=[f"seed {s}" for s in part["seed"]],
                hovertemplate="%{x} %{text}: %{y:.4f}<extra></extra>",
            )
        )
        published = (references or {}).get(gval, {})
        shown = [c for c in conditions if c in published]
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=shown,
                    y=[published[c][0] for c in shown],
                    mode="markers",
                    name="published",
                    legendgroup="published",
                    showlegend=not any(t.legendgroup == "published" for t in fig.data),
                    offsetgroup=str(gi),
                    marker=dict(symbol="diamond-open", size=13, color="#111827", line=dict(width=2)),
                    text=[published[c][1] for c in shown],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    fig.update_layout(
        title=title, barmode="group", scattermode="group", xaxis_title="condition", yaxis_title=metric, **LAYOUT
    )
    return fig


def plot_training_curves(steps: pd.DataFrame, metric: str = "train_loss", *, title: str = "") -> go.Figure:
    """`metric` against step: mean per condition with a 95% band over seeds (thin lines when one seed).

    `steps` has columns `condition`, `seed`, `step`, `name`, `value` (long format, as stored).
    """
    title = title or f"{metric} during training"
    data = steps[steps["name"] == metric] if not steps.empty else steps
    if data.empty:
        return empty_figure(f"No {metric} logged yet.", title)
    fig = go.Figure()
    for ci, (condition, part) in enumerate(data.groupby("condition", sort=False)):
        color = _color(ci)
        rows = []
        for step, at_step in part.groupby("step"):
            s = mean_interval(at_step["value"])
            rows.append((step, s.mean, s.ci_low, s.ci_high, s.n))
        frame = _interval_frame(rows, "step").sort_values("step")
        band = _band_outline(frame, "step")
        if band is not None:
            fig.add_trace(
                go.Scatter(
                    x=band[0],
                    y=band[1],
                    fill="toself",
                    fillcolor=rgba(color, 0.15),
                    line=dict(width=0),
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{condition} 95% CI",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=frame["step"],
                y=frame["mean"],
                mode="lines+markers" if len(frame) < 30 else "lines",
                name=str(condition),
                line=dict(color=color, width=2),
            )
        )
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=metric, **LAYOUT)
    # Steps are whole numbers counted from 0: no half-step ticks when only a point or two is logged yet.
    fig.update_xaxes(rangemode="tozero", tickformat="d")
    return fig


def _interval_frame(rows: Sequence[tuple], x: str) -> pd.DataFrame:
    """Rows (x, mean, low, high, n) as a frame whose low and high are floats, NaN where a point has no interval
    (None from `stats`; an all-None column would otherwise stay object-typed and break arithmetic)."""
    frame = pd.DataFrame(list(rows), columns=[x, "mean", "low", "high", "n"])
    return frame.astype({"mean": float, "low": float, "high": float})


def _band_outline(stats: pd.DataFrame, x: str) -> tuple[list, list] | None:
    """The x and y of a 95% band: one closed outline per run of consecutive points that have an interval, runs
    separated by None (plotly's fill="toself" closes each segment of a trace with gaps on its own), so the band
    stops at a point without an interval instead of pinching to zero width there. None when no point has one."""
    xs: list = []
    ys: list = []
    run: list[tuple] = []
    points = zip(stats[x], stats["low"], stats["high"], stats["n"], strict=True)
    for point in [*points, None]:  # None: the end, which closes the last run
        if point is not None and has_interval(*point[1:]):
            run.append(point)
            continue
        if run:
            xs += [*(p[0] for p in run), *(p[0] for p in run[::-1]), None]
            ys += [*(p[2] for p in run), *(p[1] for p in run[::-1]), None]
            run = []
    return (xs[:-1], ys[:-1]) if xs else None


def curve_stats(frame: pd.DataFrame, x: str, value: str) -> pd.DataFrame:
    """Mean and 95% interval of `value` over the rows (seeds) at each `x`: columns x, mean, low, high, n (low and
    high NaN at a point from one seed)."""
    rows = []
    for at, part in frame.groupby(x, sort=True):
        s = mean_interval(part[value])
        if s.n:
            rows.append((at, s.mean, s.ci_low, s.ci_high, s.n))
    return _interval_frame(rows, x)


def add_band_line(
    fig: go.Figure,
    stats: pd.DataFrame,
    x: str,
    *,
    name: str,
    color: str,
    dash: str | None = None,
    row: int | None = None,
    col: int | None = None,
    legendgroup: str | None = None,
    showlegend: bool = True,
) -> None:
    """A mean line with its 95% band (the band only where n > 1) onto `fig` (or one of its subplots)."""
    where = dict(row=row, col=col) if row is not None else {}
    group = legendgroup or name
    band = _band_outline(stats, x)
    if band is not None:
        fig.add_trace(
            go.Scatter(
                x=band[0],
                y=band[1],
                fill="toself",
                fillcolor=rgba(color, 0.12 if dash else 0.18),
                mode="lines",  # plotly adds markers to a short trace otherwise: dots on the band's edge
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=group,
                name=f"{name} 95% CI",
            ),
            **where,
        )
    fig.add_trace(
        go.Scatter(
            x=stats[x],
            y=stats["mean"],
            mode="lines+markers",
            name=name,
            legendgroup=group,
            showlegend=showlegend,
            line=dict(color=color, width=2.5, dash=dash),
            marker=dict(size=7),
            customdata=interval_hover(stats["low"], stats["high"], stats["n"]),
            hovertemplate=f"{name}<br>{x} %{{x}}: %{{y:.4f}}<br>%{{customdata}}<extra></extra>",
        ),
        **where,
    )


#: Projector-friendly layout for curve figures: larger type, the legend outside the data, on the right.
CURVE_LAYOUT = dict(
    template="plotly_white",
    font=dict(size=15),
    margin=dict(l=80, r=30, t=70, b=70),
    legend=dict(orientation="v", x=1.02, y=1.0, xanchor="left", yanchor="top"),
)


def plot_curves(
    frame: pd.DataFrame,
    *,
    x: str,
    value: str,
    line: str,
    title: str,
    x_title: str,
    y_title: str,
    dashed: str | None = None,
    names: Callable[[Any], str] = str,
) -> go.Figure:
    """`value` against integer `x`, one line per value of `line`, 95% bands over the rows (seeds) at each point.

    With `dashed` (a second value column, e.g. a control metric), each line gets a dotted twin for it; `names`
    turns a `line` value into its legend entry.
    """
    if frame.empty or value not in frame or frame[value].dropna().empty:
        return empty_figure(f"No completed trials with {value} yet.", title)
    fig = go.Figure()
    for i, (key, part) in enumerate(frame.groupby(line, sort=True)):
        name = names(key)
        add_band_line(fig, curve_stats(part, x, value), x, name=name, color=_color(i))
        if dashed and dashed in part and part[dashed].notna().any():
            add_band_line(fig, curve_stats(part, x, dashed), x, name=f"{name} control", color=_color(i), dash="dot")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **CURVE_LAYOUT)
    fig.update_xaxes(tickmode="linear", dtick=1)
    return fig


def plot_interval_bars(
    rows: pd.DataFrame, *, x: str, group: str, title: str, x_title: str, y_title: str, zero_line: bool = False
) -> go.Figure:
    """Bars with 95% interval whiskers: `rows` has columns x, group, mean, low, high, n (one bar each; low and high
    None or NaN for a bar without an interval, which gets no whisker)."""
    if rows.empty:
        return empty_figure("Nothing to compare yet.", title)
    fig = go.Figure()
    for i, (key, part) in enumerate(rows.groupby(group, sort=True)):
        fig.add_trace(
            go.Bar(
                x=part[x].astype(str),
                y=part["mean"],
                name=f"{group}={key}",
                marker_color=rgba(_color(i), 0.8),
                error_y=whiskers(part["mean"], part["low"], part["high"], part["n"]),
                customdata=interval_hover(part["low"], part["high"], part["n"]),
                hovertemplate="%{x}: %{y:.4f}<br>%{customdata}<extra></extra>",
            )
        )
    if zero_line:
        fig.add_hline(y=0, line=dict(color="#475569", width=1, dash="dash"))
    fig.update_layout(title=title, barmode="group", xaxis_title=x_title, yaxis_title=y_title, **CURVE_LAYOUT)
    return fig


def plot_panel_curves(steps: pd.DataFrame, trials: pd.DataFrame, *, name: str, panel: str, title: str) -> go.Figure:
    """Logged metric `name` against step, one panel per value of the trial column `panel`, one line per condition
    with its 95% band over seeds. `steps` is the long per-step frame (trial_id, step, name, value); `trials` has one
    row per trial that should be drawn (trial_id, condition, `panel`)."""
    from plotly.subplots import make_subplots

    if steps.empty or panel not in trials or trials.empty or (steps["name"] == name).sum() == 0:
        return empty_figure(f"No {name} logged yet (evaluations come every eval_every steps).", title)
    logged = steps[steps["name"] == name].merge(trials[["trial_id", panel]], on="trial_id")
    panels = list(dict.fromkeys(trials[panel]))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[str(p) for p in panels], shared_yaxes=True)
    conditions = list(dict.fromkeys(trials["condition"]))
    colors = {c: _color(i) for i, c in enumerate(conditions)}
    for col, value in enumerate(panels, start=1):
        for condition, part in logged[logged[panel] == value].groupby("condition", sort=False):
            stats = curve_stats(part.rename(columns={"value": name}), "step", name)
            add_band_line(
                fig, stats, "step", name=condition, color=colors[condition], row=1, col=col, showlegend=col == 1
            )
    fig.update_layout(title=title, height=480, **CURVE_LAYOUT)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=name, col=1)
    return fig
