"""frozen_transformer's figures and paired comparisons. With an lr sweep every figure reads, per task and condition,
the trials of the lr whose mean final validation metric is best (`chosen_trials`); intervals are 95% over seeds,
paired ones difference two conditions seed by seed (same input/output-layer init, same training order)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

REFERENCE = "pretrained"
_PAIRED_COLUMNS = ["task", "comparison", "measure", "mean", "low", "high", "n", "note"]


def _metric(data: ExperimentData) -> str:
    return data.primary_metric.removeprefix("test_")


def chosen_trials(data: ExperimentData) -> pd.DataFrame:
    """Completed trials at each (task, condition)'s chosen lr (the only lr without a sweep), with `chosen_lr`."""
    frame = data.completed()
    if frame.empty or "task" not in frame or "lr" not in frame:
        return frame.iloc[0:0]
    score = f"val_{_metric(data)}"
    keep = []
    for _, part in frame.groupby(["task", "condition"], sort=False):
        means = part.groupby("lr")[score].mean() if score in part else None
        best = means.idxmax() if means is not None and means.notna().any() else part["lr"].iloc[0]
        keep.append(part[part["lr"] == best].assign(chosen_lr=best))
    import pandas as pd

    return pd.concat(keep)


def _by_seed(frame: pd.DataFrame, task: str, condition: str, column: str) -> dict[int, float]:
    part = frame[(frame["task"] == task) & (frame["condition"] == condition)]
    return dict(zip(part["seed"], part[column], strict=True)) if column in part else {}


def efficiency_ratio(random: dict[int, float], pretrained: dict[int, float], steps: float) -> tuple:
    """(geometric-mean ratio random/pretrained of steps to threshold, low, high, n, censored): paired by seed, a
    t-interval on the log ratios (low and high None below two seeds). A run that never reached the threshold counts
    as `steps` (so a ratio with the random side censored is a lower bound); seeds where pretrained never reached it
    are left out."""
    from embedxfer.stats import t_interval

    logs, censored = [], 0
    for seed, ours in pretrained.items():
        if seed not in random or not np.isfinite(ours):
            continue
        theirs = random[seed]
        if not np.isfinite(theirs):
            theirs, censored = steps, censored + 1
        logs.append(math.log(theirs / ours))
    interval = t_interval(logs)
    if not interval.has_interval:  # one paired seed: its ratio and no interval (none, NaN, without any seed)
        return (math.exp(interval.mean), None, None, interval.n, censored)
    return (math.exp(interval.mean), math.exp(interval.ci_low), math.exp(interval.ci_high), interval.n, censored)


def paired_rows(data: ExperimentData) -> pd.DataFrame:
    """Per task: pretrained minus every other condition on the test metric (paired by seed); each ladder rung minus
    the rung below; and the compute-efficiency ratio random/pretrained of steps to threshold."""
    import pandas as pd

    from embedxfer.stats import paired_difference

    frame = chosen_trials(data)
    metric = data.primary_metric
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=_PAIRED_COLUMNS)
    lrs = {(t, c): lr for t, c, lr in frame[["task", "condition", "chosen_lr"]].drop_duplicates().itertuples(False)}
    sweep = frame["lr"].nunique() > 1 or len(data.result["config"].get("lrs") or []) > 1
    rows = []
    for task in dict.fromkeys(frame["task"]):
        conditions = list(dict.fromkeys(frame.loc[frame["task"] == task, "condition"]))
        pairs = [(REFERENCE, c) for c in conditions if c != REFERENCE and not c.startswith("ladder:")]
        rungs = [c for c in conditions if c.startswith("ladder:")]
        pairs += list(zip(rungs[1:], rungs[:-1], strict=False))
        for a, b in pairs:
            if a not in conditions:
                continue
            diff = paired_difference(_by_seed(frame, task, a, metric), _by_seed(frame, task, b, metric))
            if not diff.n:
                continue
            note = f"lr {lrs[(task, a)]:g} vs {lrs[(task, b)]:g}" if sweep else ""
            if a.startswith("ladder:"):
                name, measure = f"ladder: {_rung_label(a, b)}", f"{metric} gain over the rung below"
            else:
                name, measure = f"{a} − {b}", f"{metric} difference"
            rows.append([task, name, measure, diff.mean, diff.ci_low, diff.ci_high, diff.n, note])
        if REFERENCE in conditions and "random" in conditions:
            steps = float(data.result["config"].get("steps") or 0)
            ratio = efficiency_ratio(
                _by_seed(frame, task, "random", "steps_to_threshold"),
                _by_seed(frame, task, REFERENCE, "steps_to_threshold"),
                steps,
            )
            if ratio[3]:
                note = f"random never reached it in {ratio[4]} of {ratio[3]} seeds: a lower bound" if ratio[4] else ""
                rows.append([task, "random ÷ pretrained", "steps to threshold (ratio)", *ratio[:4], note])
    return pd.DataFrame(rows, columns=_PAIRED_COLUMNS)


def learning_curves(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_panel_curves

    name = f"val_{_metric(data)}"
    title = f"{data.experiment_id}: {name} against step per task (95% band over seeds)"
    return plot_panel_curves(data.steps, chosen_trials(data), name=name, panel="task", title=title)


#: Lu et al. 2021, Table 1 (GPT-2 base), for the tasks whose family this project runs: {task: {condition: accuracy}}
PUBLISHED = {
    "bit-xor": {"pretrained": 1.0, "random": 1.0, "scratch-full": 1.0, "lstm": 0.501},
    "bit-memory": {"pretrained": 1.0, "random": 0.758, "scratch-full": 1.0, "lstm": 0.609},
    "listops": {"pretrained": 0.384, "random": 0.343, "scratch-full": 0.38, "lstm": 0.171},
}
#: the paper's unfreezing ladder (GPT-2 base, CIFAR-10 test accuracy), by the rung labels the ladder figure uses
PUBLISHED_LADDER = {"output": 0.25, "+layernorm": 0.54, "+input": 0.60, "+positions": 0.68}
#: how the paper's setting differs from a run here, per task family
_PUBLISHED_SETTING = {
    "bit-xor": "same task (two 5-bit strings); GPT-2 base trained to convergence",
    "bit-memory": "the paper's patterns have 1000 bits; a run here may use fewer (n_bits), which changes the task",
    "listops": "the paper used LRA's ListOps (its loader cut sequences); the generated ListOps here differs",
}


def published_references(data: ExperimentData) -> dict[str, dict[str, tuple[float, str]]]:
    """{task: {condition: (published accuracy, hover text)}} for the run's tasks with a published counterpart."""
    if data.primary_metric != "test_accuracy":
        return {}
    frame = chosen_trials(data)
    references = {}
    for task in dict.fromkeys(frame["task"]) if not frame.empty else []:
        family = str(task).split("?")[0]
        for condition, value in PUBLISHED.get(family, {}).items():
            setting = _PUBLISHED_SETTING[family]
            hover = f"published: Lu et al. 2021, GPT-2 base, {family}, {condition} {value:.1%}<br>{setting}"
            references.setdefault(task, {})[condition] = (value, hover)
    return references


def final_bars(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_condition_summary

    metric = data.primary_metric
    return plot_condition_summary(
        chosen_trials(data),
        metric,
        group="task",
        title=f"{data.experiment_id}: final {metric} (mean, 95% CI; hollow diamonds: published, click to hide)",
        references=published_references(data),
    )


def ladder(data: ExperimentData) -> go.Figure:
    """The unfreezing ladder as a step chart: the test metric after each rung adds its groups, per task."""
    import plotly.graph_objects as go

    from embedxfer.plots import CURVE_LAYOUT, PALETTE, empty_figure, interval_whiskers
    from embedxfer.stats import mean_interval

    metric = data.primary_metric
    title = f"{data.experiment_id}: {metric} as groups are unfrozen (mean, 95% CI; dashed: published, click to hide)"
    frame = chosen_trials(data)
    frame = frame[frame["condition"].str.startswith("ladder:")] if not frame.empty else frame
    if frame.empty:
        return empty_figure("No ladder rung has finished (set ladder: true).", title)
    fig = go.Figure()
    for i, task in enumerate(dict.fromkeys(frame["task"])):
        part = frame[frame["task"] == task]
        rungs = list(dict.fromkeys(part["condition"]))
        labels = [_rung_label(r, rungs[j - 1] if j else None) for j, r in enumerate(rungs)]
        stats = [mean_interval(part.loc[part["condition"] == r, metric]) for r in rungs]
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=[s.mean for s in stats],
                mode="lines+markers",
                line=dict(shape="hv", width=2.5, color=PALETTE[i % len(PALETTE)]),
                name=str(task),
                error_y=interval_whiskers(stats),
                customdata=[[r, s.n] for r, s in zip(rungs, stats, strict=True)],
                hovertemplate="%{customdata[0]}: %{y:.4f} (n=%{customdata[1]})<extra>" + str(task) + "</extra>",
            )
        )
    if data.primary_metric == "test_accuracy":
        _published_ladder(fig, [label for trace in fig.data for label in trace.x])
    fig.update_layout(title=title, xaxis_title="trainable groups", yaxis_title=metric, **CURVE_LAYOUT)
    return fig


def _published_ladder(fig: go.Figure, labels: list[str]) -> None:
    """The paper's CIFAR-10 ladder as hollow diamonds on a dashed line, at the rungs this run has: another task, so
    it shows the shape to compare, not a value to match; one legend entry hides it."""
    import plotly.graph_objects as go

    rungs = [label for label in PUBLISHED_LADDER if label in labels]
    if not rungs:
        return
    fig.add_trace(
        go.Scatter(
            x=rungs,
            y=[PUBLISHED_LADDER[r] for r in rungs],
            mode="lines+markers",
            line=dict(shape="hv", width=1.5, dash="dash", color="#777777"),
            marker=dict(symbol="diamond-open", size=11, color="#777777"),
            name="published: Lu et al. 2021, GPT-2 base, CIFAR-10 (another task)",
            legendgroup="published",
            hovertemplate="published: Lu et al. 2021, GPT-2 base, CIFAR-10, %{x}: %{y:.0%}<br>"
            "another task than this run's: compare the steps, not the values<extra></extra>",
        )
    )


def _rung_label(rung: str, previous: str | None) -> str:
    groups = rung.removeprefix("ladder:").split("+")
    if previous is None:
        return "+".join(groups)
    before = set(previous.removeprefix("ladder:").split("+"))
    return "+" + "/".join(g for g in groups if g not in before)


def efficiency(data: ExperimentData) -> go.Figure:
    """Steps to reach the threshold per condition (mean, 95% CI over the seeds that reached it), per task."""
    from embedxfer.plots import empty_figure, plot_condition_summary

    threshold = data.result["config"].get("threshold")
    title = f"{data.experiment_id}: steps until the validation metric reaches {threshold} (seeds that reached it)"
    frame = chosen_trials(data)
    if threshold is None or frame.empty or "steps_to_threshold" not in frame:
        return empty_figure("No trial reached the threshold yet (or no threshold is set).", title)
    fig = plot_condition_summary(frame, "steps_to_threshold", group="task", title=title)
    reached = frame.groupby(["task", "condition"], sort=False)["reached_threshold"].agg(["sum", "count"])
    lines = [f"{t} · {c}: {int(r['sum'])}/{int(r['count'])} reached" for (t, c), r in reached.iterrows()]
    fig.add_annotation(
        text="<br>".join(lines), showarrow=False, xref="paper", yref="paper", x=1.0, y=1.0, align="right", font_size=11
    )
    return fig


def attention(data: ExperimentData) -> go.Figure:
    """Which input positions the frozen heads attend to: per task and layer (slider), the attention of the first
    seed's pretrained trial averaged over heads and the stored test examples; query rows, key columns."""
    import plotly.graph_objects as go

    from embedxfer.experiments.frozen_transformer.attention import ARTIFACT, read_attention
    from embedxfer.plots import LAYOUT, empty_figure

    title = f"{data.experiment_id}: attention of the frozen pretrained blocks (mean over heads and examples)"
    frame = data.completed()
    frame = frame[frame["condition"] == REFERENCE] if not frame.empty else frame
    if frame.empty or data.store_root is None:
        return empty_figure("No finished pretrained trial yet (its attention maps are stored when it ends).", title)
    fig, labels, titles = go.Figure(), [], []
    for task, part in frame.sort_values("seed").groupby("task", sort=False):
        stored = read_attention(data.artifact(part["trial_id"].iloc[0], ARTIFACT))
        maps = stored["maps"].astype(np.float64).mean(axis=(0, 2))  # (layers, query, key)
        last = int(np.asarray(stored["output_tokens"]))
        reads = (
            f"the output layer reads the last {last} tokens" if last > 1 else "the output layer reads the last token"
        )
        for layer, grid in enumerate(maps):
            fig.add_trace(
                go.Heatmap(
                    z=grid,
                    colorscale="Viridis",
                    zmin=0,
                    visible=not labels,
                    colorbar=dict(title="weight"),
                    hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>",
                )
            )
            labels.append(f"{task} · layer {layer}")
            titles.append(f"{title}<br><sup>{task}, layer {layer} of {len(maps)}: {reads}</sup>")
    steps = [
        {
            "method": "update",
            "label": label,
            "args": [{"visible": [j == i for j in range(len(labels))]}, {"title": titles[i]}],
        }
        for i, label in enumerate(labels)
    ]
    fig.update_layout(
        title=titles[0],
        sliders=[{"active": 0, "currentvalue": {"prefix": ""}, "steps": steps, "pad": {"t": 40}}],
        xaxis_title="key position (attended to)",
        yaxis_title="query position",
        height=560,
        **LAYOUT,
    )
    fig.update_yaxes(autorange="reversed")
    return fig


FIGURES = (
    FigureSpec("learning_curves", "Validation accuracy against step", learning_curves),
    FigureSpec("final_bars", "Final test metric per condition", final_bars),
    FigureSpec("efficiency", "Steps to threshold (compute efficiency)", efficiency),
    FigureSpec("ladder", "Unfreezing ladder", ladder),
    FigureSpec("attention", "Attention of the frozen blocks", attention),
)
