"""stitching's figure and paired comparisons: the test metric of each stitch against A's hidden state i, with
b-alone as a band, random-stitch as a dashed curve and identity as a reference line; and every stitched condition
minus b-alone, seed by seed (each with a 95% interval over seeds; one seed draws none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.figure_builders import condition_summary
from embedxfer.experiments.outputs import FigureSpec
from embedxfer.experiments.stitching.pairs import B_ALONE, IDENTITY, RANDOM_STITCH, STITCH_PREFIX

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

_PAIRED_COLUMNS = ["condition", "i", "j", "mean", "low", "high", "n"]


def _stitched(frame: pd.DataFrame) -> pd.DataFrame:
    """Trials of trained stitches and random stitches (those with a layer pair)."""
    is_pair = frame["condition"].str.startswith(STITCH_PREFIX) | (frame["condition"] == RANDOM_STITCH)
    return frame[is_pair]


def paired_rows(data: ExperimentData) -> pd.DataFrame:
    """Per stitched condition and pair (and identity): its metric minus b-alone's, paired by seed (mean, 95% CI,
    n); same seed = same training rows and the same head initialisation."""
    import pandas as pd

    from embedxfer.stats import paired_difference

    frame, metric = data.completed(), data.primary_metric
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=_PAIRED_COLUMNS)
    base = frame[frame["condition"] == B_ALONE]
    reference = dict(zip(base["seed"], base[metric], strict=True))
    if not reference or "i" not in frame:
        return pd.DataFrame(columns=_PAIRED_COLUMNS)
    rows = []
    compared = frame[frame["condition"] != B_ALONE].dropna(subset=["i", "j"])
    for (condition, i, j), part in compared.groupby(["condition", "i", "j"], sort=False):
        difference = paired_difference(dict(zip(part["seed"], part[metric], strict=True)), reference)
        if difference.n:
            rows.append(
                [condition, int(i), int(j), difference.mean, difference.ci_low, difference.ci_high, difference.n]
            )
    return pd.DataFrame(rows, columns=_PAIRED_COLUMNS)


def _flat(frame: pd.DataFrame, value: str, xs: list[int]) -> pd.DataFrame:
    """The mean and interval of `value` over all rows, repeated at the first and last x: a horizontal band."""
    from embedxfer.plots import curve_stats

    stats = curve_stats(frame.assign(_all=0), "_all", value)
    return stats.loc[stats.index.repeat(2)].assign(i=[min(xs), max(xs)]).reset_index(drop=True)


def stitch_curve(data: ExperimentData) -> go.Figure:
    """Test metric against A's hidden state i: trained stitches (solid), random stitches (dashed), b-alone (flat
    band) and identity (dotted reference line)."""
    import plotly.graph_objects as go

    from embedxfer.plots import CURVE_LAYOUT, PALETTE, add_band_line, curve_stats, empty_figure

    metric = data.primary_metric
    title = f"{data.experiment_id}: {metric} by A's hidden state i stitched into B (95% intervals over seeds)"
    frame = data.completed()
    if frame.empty or metric not in frame or "i" not in frame:
        return empty_figure(f"No completed stitch trials with {metric} yet.", title)
    frame = frame[frame[metric].notna()]
    pairs = _stitched(frame)
    if pairs.empty:
        return empty_figure(f"No completed stitch trials with {metric} yet.", title)
    xs = sorted(int(i) for i in pairs["i"].unique())
    fig = go.Figure()
    trained = pairs[pairs["condition"].str.startswith(STITCH_PREFIX)]
    # explicit pairs may send one i into several j: one curve per j then, never an average over different targets
    several = trained.groupby("i")["j"].nunique().max() > 1 if not trained.empty else False
    for k, (j, part) in enumerate(trained.groupby("j" if several else lambda _: "all", sort=True)):
        name = f"stitch into B's block {int(j)}" if several else "trained stitch (i -> j)"
        add_band_line(fig, curve_stats(part, "i", metric), "i", name=name, color=PALETTE[k % len(PALETTE)])
    random = pairs[pairs["condition"] == RANDOM_STITCH]
    if not random.empty:
        for k, (j, part) in enumerate(random.groupby("j" if several else lambda _: "all", sort=True)):
            name = f"random stitch into block {int(j)}" if several else "random stitch (frozen)"
            color = PALETTE[k % len(PALETTE)] if several else "#64748b"  # a random twin shares its curve's colour
            add_band_line(fig, curve_stats(part, "i", metric), "i", name=name, color=color, dash="dash")
    for condition, name, color, dash in (
        (B_ALONE, "b-alone (B's own layers)", "#059669", None),
        (IDENTITY, "identity (no stitch)", "#111827", "dot"),
    ):
        rows = frame[frame["condition"] == condition]
        if not rows.empty:
            add_band_line(fig, _flat(rows, metric, xs), "i", name=name, color=color, dash=dash)
    fig.update_layout(
        title=title,
        xaxis_title="i: A's hidden state fed to B (0 = embedding output)",
        yaxis_title=f"test {metric.removeprefix('test_')}",
        **CURVE_LAYOUT,
    )
    fig.update_xaxes(tickmode="linear", dtick=1)
    return fig


def paired_delta(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_interval_bars

    metric = data.primary_metric
    rows = paired_rows(data)
    if not rows.empty:
        rows = rows.assign(
            pair=[f"{i}->{j}" for i, j in zip(rows["i"], rows["j"], strict=True)],
            arm=["trained" if c.startswith(STITCH_PREFIX) else c for c in rows["condition"]],
        )
    return plot_interval_bars(
        rows,
        x="pair",
        group="arm",
        zero_line=True,
        title=f"{data.experiment_id}: {metric} minus b-alone (paired over seeds, 95% CI)",
        x_title="layer pair i -> j",
        y_title=f"difference in {metric}",
    )


def layer_curve(data: ExperimentData) -> pd.DataFrame:
    """The Layer view's curves: the trained and the random stitch's metric by A's hidden state i, and b-alone as a
    flat line over the same i (each with its 95% interval over seeds)."""
    import pandas as pd

    from embedxfer.experiments.figure_builders import CURVE_COLUMNS, curve_rows

    frame, metric = data.completed(), data.primary_metric
    if frame.empty or metric not in frame or "i" not in frame:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    pairs = _stitched(frame).dropna(subset=["i"]).assign(layer=lambda f: f["i"].astype(int))
    pairs = pairs.assign(
        series=["random stitch" if c == RANDOM_STITCH else "trained stitch" for c in pairs["condition"]]
    )
    base = frame[frame["condition"] == B_ALONE]
    flat = pd.concat([base.assign(layer=i, series=B_ALONE) for i in sorted(set(pairs["layer"]))] or [base.iloc[0:0]])
    return pd.concat(
        [curve_rows(part, series="series", value=metric) for part in (pairs, flat) if not part.empty]
        or [pd.DataFrame(columns=CURVE_COLUMNS)],
        ignore_index=True,
    )


FIGURES = (
    FigureSpec("stitch_curve", "Stitched metric by A's hidden state", stitch_curve),
    FigureSpec("paired_delta", "Paired difference against b-alone", paired_delta),
    FigureSpec("summary", "Test metric by condition", condition_summary),
)
