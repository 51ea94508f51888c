"""layer_reinit's figures: the `layers` view (probing above reinit on one layer axis), the reinit and probe curves,
localized-block bars and paired differences against keeping every layer (each with 95% intervals over seeds)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from embedxfer.experiments.figure_builders import condition_summary
from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

PROBE = "probe"
_KEEP = re.compile(r"^keep:(\d+)$")
_ALL = math.inf  # sort key of train_size null (all examples): after every number


def _size_key(value: Any) -> float:
    return _ALL if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def size_name(key: float) -> str:
    return "all examples" if key == _ALL else f"{int(key)} examples"


def num_layers(data: ExperimentData) -> int | None:
    """L, read off the reference condition `keep:<L>` (the largest k any keep condition has)."""
    ks = [int(m.group(1)) for c in data.trials.get("condition", []) if (m := _KEEP.match(str(c)))]
    return max(ks) if ks else None


def _with_size(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    sizes = frame["train_size"] if "train_size" in frame else [None] * len(frame)
    frame["size"] = [_size_key(v) for v in sizes]
    return frame


def reinit_frame(data: ExperimentData) -> pd.DataFrame:
    """Completed progressive trials (keep:k, reinit-bottom:k) with `kept` = pretrained blocks left and `size`."""
    frame = data.completed()
    layers = num_layers(data)
    if frame.empty or layers is None:
        return frame.iloc[0:0]
    frame = _with_size(frame[frame["condition"].str.match(r"^(keep|reinit-bottom):\d+$")])
    # from the public condition names: keep:k keeps k blocks, reinit-bottom:k keeps the top L-k
    counts = [int(str(c).split(":")[1]) for c in frame["condition"]]
    frame["kept"] = [
        k if str(c).startswith("keep:") else layers - k for c, k in zip(frame["condition"], counts, strict=True)
    ]
    return frame


def probe_frame(data: ExperimentData) -> pd.DataFrame:
    frame = data.completed()
    if frame.empty:
        return frame
    return _with_size(frame[frame["condition"] == PROBE])


def _control(data: ExperimentData) -> str:
    return "control_" + data.primary_metric.removeprefix("test_")


def reinit_curve(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_curves

    metric = data.primary_metric
    return plot_curves(
        reinit_frame(data),
        x="kept",
        value=metric,
        line="size",
        names=size_name,
        title=f"{data.experiment_id}: finetuned {metric} by pretrained blocks kept",
        x_title="pretrained blocks kept (the rest reinitialized)",
        y_title=f"{metric} after finetuning",
    )


def probe_curve(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_curves

    metric = data.primary_metric
    return plot_curves(
        probe_frame(data),
        x="layer",
        value=metric,
        line="size",
        names=lambda key: f"probe, {size_name(key)}",
        dashed=_control(data),
        title=f"{data.experiment_id}: linear probe {metric} by layer (dotted: shuffled-label control)",
        x_title="layer (0 = embeddings)",
        y_title=f"probe {metric}",
    )


def layers_view(data: ExperimentData) -> go.Figure:
    """Two panels on one layer axis: the probe at layer k above the finetuned result of keeping k blocks."""
    from plotly.subplots import make_subplots

    from embedxfer.plots import CURVE_LAYOUT, PALETTE, add_band_line, curve_stats, empty_figure

    metric = data.primary_metric
    title = f"{data.experiment_id}: probing layer k (top) and keeping k pretrained blocks (bottom)"
    probes, reinit = probe_frame(data), reinit_frame(data)
    if (probes.empty or metric not in probes) and (reinit.empty or metric not in reinit):
        return empty_figure(f"No completed probe or progressive trials with {metric} yet.", title)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    control = _control(data)

    def draw(frame: pd.DataFrame, x: str, value: str, row: int, name: str, color: str, **style: Any) -> bool:
        """One curve with its band into panel `row`; False when there is nothing to draw."""
        if frame.empty or value not in frame or frame[value].isna().all():
            return False
        add_band_line(fig, curve_stats(frame, x, value), x, name=name, color=color, row=row, col=1, **style)
        return True

    for i, size in enumerate(sorted(set(probes.get("size", [])) | set(reinit.get("size", [])))):
        color, group = PALETTE[i % len(PALETTE)], size_name(size)
        at_size = probes[probes["size"] == size] if not probes.empty else probes
        shown = draw(at_size, "layer", metric, 1, group, color, legendgroup=group)
        draw(at_size, "layer", control, 1, f"{group}, control", color, dash="dot", legendgroup=group)
        kept = reinit[reinit["size"] == size] if not reinit.empty else reinit
        draw(kept, "kept", metric, 2, group, color, legendgroup=group, showlegend=not shown)
    fig.update_layout(title=title, height=720, **CURVE_LAYOUT)
    fig.update_yaxes(title_text=f"probe {metric}", row=1, col=1)
    fig.update_yaxes(title_text=f"finetuned {metric}", row=2, col=1)
    fig.update_xaxes(tickmode="linear", dtick=1)
    fig.update_xaxes(title_text="k: probe at layer k (0 = embeddings) / bottom k blocks kept pretrained", row=2, col=1)
    return fig


_BAR_COLUMNS = ["condition", "size", "mean", "low", "high", "n"]


def _bar_row(condition: str, size: float, interval) -> dict[str, Any]:
    """One bar of `plot_interval_bars`: a condition at a train size with its mean and 95% interval."""
    return {
        "condition": condition,
        "size": size_name(size),
        "mean": interval.mean,
        "low": interval.ci_low,
        "high": interval.ci_high,
        "n": interval.n,
    }


def _interval_rows(data: ExperimentData, pattern: str) -> pd.DataFrame:
    import pandas as pd

    from embedxfer.stats import mean_interval

    frame = data.completed()
    metric = data.primary_metric
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=_BAR_COLUMNS)
    frame = _with_size(frame[frame["condition"].str.match(pattern)])
    rows = [
        _bar_row(condition, size, mean_interval(part[metric]))
        for (condition, size), part in frame.groupby(["condition", "size"], sort=False)
    ]
    return pd.DataFrame(rows, columns=_BAR_COLUMNS)


def localized_bars(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_interval_bars

    metric = data.primary_metric
    return plot_interval_bars(
        _interval_rows(data, r"^(block|all-but):\d+-\d+$|^keep:\d+$"),
        x="condition",
        group="size",
        title=f"{data.experiment_id}: {metric} per reinitialized block (mean, 95% CI over seeds)",
        x_title="condition (block:a-b reinitializes blocks a..b; all-but:a-b all others)",
        y_title=f"{metric} after finetuning",
    )


def paired_rows(data: ExperimentData) -> pd.DataFrame:
    """Per (condition, train size): the paired difference to `keep:<L>` over matching seeds (mean, 95% CI, n)."""
    import pandas as pd

    from embedxfer.stats import paired_difference

    frame = data.completed()
    layers, metric = num_layers(data), data.primary_metric
    if frame.empty or layers is None or metric not in frame:
        return pd.DataFrame(columns=_BAR_COLUMNS)
    frame = _with_size(frame[frame["condition"] != PROBE])
    reference = f"keep:{layers}"
    rows = []
    for size, at_size in frame.groupby("size", sort=True):
        by_seed = {c: dict(zip(p["seed"], p[metric], strict=True)) for c, p in at_size.groupby("condition", sort=False)}
        base = by_seed.pop(reference, {})
        for condition, values in by_seed.items():
            difference = paired_difference(values, base)
            if difference.n:
                rows.append(_bar_row(condition, size, difference))
    return pd.DataFrame(rows, columns=_BAR_COLUMNS)


def paired_delta(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_interval_bars

    layers = num_layers(data)
    metric = data.primary_metric
    return plot_interval_bars(
        paired_rows(data),
        x="condition",
        group="size",
        zero_line=True,
        title=f"{data.experiment_id}: {metric} minus keep:{layers} (paired over seeds, 95% CI)",
        x_title="condition",
        y_title=f"difference in {metric}",
    )


def layer_curve(data: ExperimentData) -> pd.DataFrame:
    """The Layer view's curve: the metric of keep:k (blocks 0..k-1 pretrained, the rest reinitialized) by k, one
    series per training size."""
    from embedxfer.experiments.figure_builders import curve_rows

    frame = reinit_frame(data)
    frame = frame[frame["condition"].str.startswith("keep:")].copy() if not frame.empty else frame
    if not frame.empty:
        frame["series"] = [f"keep:k, {size_name(size)}" for size in frame["size"]]
    return curve_rows(frame, series="series", value=data.primary_metric, layer="kept")


FIGURES = (
    FigureSpec("layers", "Probing and reinitialization on one layer axis", layers_view),
    FigureSpec("reinit_curve", "Finetuned metric by pretrained blocks kept", reinit_curve),
    FigureSpec("probe_curve", "Probe metric by layer", probe_curve),
    FigureSpec("paired_delta", "Paired difference against keeping every block", paired_delta),
    FigureSpec("localized_bars", "Metric per reinitialized block", localized_bars),
    FigureSpec("summary", "Test metric by condition", condition_summary),
)
