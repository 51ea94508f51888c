"""module_porting's figures, paired comparisons and port-report table.

A setting is (technique, origin -> receiver). Receiving curves put validation accuracy against the receiving
host's steps (step 0 = zero-shot) per condition with 95% bands over seeds, the origin's own final accuracy as a
dashed reference. Paired comparisons difference `ported` and each alternative seed by seed: the same seed gives
the same fresh module, head, training subset and batch order in every condition, so only the starting values differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

_PAIRED_COLUMNS = ["technique", "pair", "comparison", "measure", "step", "mean", "low", "high", "n"]
#: how many receiving steps the paired table reports besides zero-shot (spread over the curve, the last included)
_TABLE_STEPS = 4


def _metric(data: ExperimentData) -> str:
    return data.primary_metric.removeprefix("test_")


def _trials(data: ExperimentData) -> pd.DataFrame:
    frame = data.completed()
    if frame.empty or "technique" not in frame:
        return frame.iloc[0:0]
    return frame.assign(pair=frame["origin"] + " → " + frame["receiver"])


def _setting(frame: pd.DataFrame) -> pd.Series:
    return frame["technique"] + " · " + frame["pair"]


def _curve_values(data: ExperimentData, frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per receiving trial and logged step: the value of `name` (trial_id, condition, seed, technique, pair, step)."""
    steps = data.steps
    if steps.empty or frame.empty:
        return steps.iloc[0:0]
    logged = steps[steps["name"] == name][["trial_id", "step", "value"]]
    keep = frame[frame["condition"] != "origin"][["trial_id", "condition", "seed", "technique", "pair"]]
    return logged.merge(keep, on="trial_id")


def report_steps(steps: list[int]) -> list[int]:
    """Zero-shot plus up to _TABLE_STEPS steps spread over the curve, the last one included."""
    later = sorted(s for s in set(steps) if s > 0)
    if len(later) > _TABLE_STEPS:
        picks = {later[round(i * (len(later) - 1) / (_TABLE_STEPS - 1))] for i in range(_TABLE_STEPS)}
        later = sorted(picks)
    return ([0] if 0 in steps else []) + later


def _scores(frame: pd.DataFrame, metric: str) -> list[str]:
    """The test scores compared: the task's metric, and macro-F1 where the trials report it."""
    return [metric, *(["macro_f1"] if metric == "accuracy" and "test_macro_f1" in frame else [])]


def _by_seed(frame: pd.DataFrame, condition: str, column: str) -> dict[int, float]:
    chosen = frame[frame["condition"] == condition]
    return dict(zip(chosen["seed"], chosen[column], strict=True)) if column in chosen else {}


def _add(rows: list, key: list, comparison: str, measure: str, step: int | None, a: dict, b: dict) -> None:
    """One paired row (a minus b, seed by seed), when any seed has both."""
    from embedxfer.stats import paired_difference

    diff = paired_difference(a, b)
    if diff.n:
        rows.append([*key, comparison, measure, step, diff.mean, diff.ci_low, diff.ci_high, diff.n])


def paired_rows(data: ExperimentData) -> pd.DataFrame:
    """Per setting: ported minus scratch and ported minus sampled on the test scores (accuracy, macro-F1) at step 0
    (zero-shot), on the validation accuracy at several receiving steps and on the final test scores; ported zero-shot
    minus the origin's own test scores (what the port loses before any training). Paired by seed; 95%
    t-intervals."""
    import pandas as pd

    frame = _trials(data)
    metric = _metric(data)
    if frame.empty or f"test_{metric}" not in frame:
        return pd.DataFrame(columns=_PAIRED_COLUMNS)
    scores = _scores(frame, metric)
    curves = _curve_values(data, frame, f"val_{metric}")
    rows = []
    for (technique, pair), part in frame.groupby(["technique", "pair"], sort=False):
        here = curves[(curves["technique"] == technique) & (curves["pair"] == pair)] if not curves.empty else curves
        steps = [s for s in report_steps(list(here["step"])) if s] if not here.empty else []
        trained = part.loc[part["condition"] != "origin", "steps"] if "steps" in part else part["seed"][:0]
        last = int(trained.max()) if trained.notna().any() else None
        key = [technique, pair]
        for other in ("scratch", "sampled"):
            name = f"ported − {other}"
            for score in scores:
                zero = f"zero_shot_test_{score}"
                _add(
                    rows,
                    key,
                    name,
                    f"test_{score} (zero-shot)",
                    0,
                    _by_seed(part, "ported", zero),
                    _by_seed(part, other, zero),
                )
            for step in steps:
                at = here[here["step"] == step]
                _add(
                    rows,
                    key,
                    name,
                    f"val_{metric}",
                    step,
                    _by_seed(at, "ported", "value"),
                    _by_seed(at, other, "value"),
                )
            for score in scores:
                test = f"test_{score}"
                _add(
                    rows,
                    key,
                    name,
                    f"{test} (final)",
                    last,
                    _by_seed(part, "ported", test),
                    _by_seed(part, other, test),
                )
        for score in scores:
            zero, test = _by_seed(part, "ported", f"zero_shot_test_{score}"), _by_seed(part, "origin", f"test_{score}")
            _add(rows, key, "ported − origin", f"test_{score}: zero-shot vs origin", 0, zero, test)
    return pd.DataFrame(rows, columns=_PAIRED_COLUMNS)


def receiver_curves(data: ExperimentData) -> go.Figure:
    """Validation accuracy against receiving-host steps per condition (95% bands), one panel per setting; the
    origin's own final validation accuracy as a dashed line with its interval."""
    from embedxfer.plots import plot_panel_curves
    from embedxfer.stats import mean_interval

    metric = _metric(data)
    name = f"val_{metric}"
    frame = _trials(data)
    title = f"{data.experiment_id}: {name} on the receiving host (step 0 = zero-shot; 95% band over seeds)"
    receiving = (
        frame[frame["condition"] != "origin"].assign(setting=lambda f: _setting(f)) if not frame.empty else frame
    )
    fig = plot_panel_curves(data.steps, receiving, name=name, panel="setting", title=title)
    if frame.empty or receiving.empty or name not in frame:
        return fig
    panels = list(dict.fromkeys(receiving["setting"]))
    origin = frame[frame["condition"] == "origin"].assign(setting=lambda f: _setting(f))
    for col, setting in enumerate(panels, start=1):
        stats = mean_interval(origin.loc[origin["setting"] == setting, name])
        if not stats.n:
            continue
        label = f"origin {stats.text('.3f')}"  # one origin seed: "origin 0.812 (n=1, no interval)"
        fig.add_hline(
            y=stats.mean,
            line=dict(color="#475569", dash="dash", width=1.5),
            annotation_text=label,
            annotation_position="bottom right",
            row=1,
            col=col,
        )
    _majority_line(fig, receiving, "zero_shot_val_majority_rate", cols=len(panels))
    return fig


def _majority_line(fig: go.Figure, frame: pd.DataFrame, column: str, cols: int = 1) -> None:
    """A dotted line at the evaluated subset's majority-class rate: what always answering the majority scores."""
    if column not in frame or frame[column].dropna().empty:
        return
    rate = float(frame[column].dropna().iloc[0])  # one fixed subset: the same in every trial
    for col in range(1, cols + 1):
        where = dict(row=1, col=col) if cols > 1 else {}
        fig.add_hline(
            y=rate,
            line=dict(color="#9ca3af", dash="dot", width=1.5),
            annotation_text=f"majority class {rate:.3f}",
            annotation_position="top left",
            **where,
        )


def zero_shot_bars(data: ExperimentData) -> go.Figure:
    """Test accuracy at step 0 on the receiving host per condition and setting (mean, 95% interval), the origin's
    own test accuracy beside them."""
    import pandas as pd

    from embedxfer.plots import plot_interval_bars
    from embedxfer.stats import mean_interval

    metric = _metric(data)
    frame = _trials(data)
    title = f"{data.experiment_id}: test_{metric} before any training on the receiver (origin: on its own host)"
    rows = []
    if not frame.empty:
        for (setting, condition), part in frame.assign(setting=_setting(frame)).groupby(
            ["setting", "condition"], sort=False
        ):
            column = f"test_{metric}" if condition == "origin" else f"zero_shot_test_{metric}"
            stats = mean_interval(part[column]) if column in part else None
            if stats is not None and stats.n:
                rows.append([setting, condition, stats.mean, stats.ci_low, stats.ci_high, stats.n])
    table = pd.DataFrame(rows, columns=["setting", "condition", "mean", "low", "high", "n"])
    fig = plot_interval_bars(
        table, x="setting", group="condition", title=title, x_title="technique · origin → receiver", y_title=metric
    )
    if not table.empty:
        _majority_line(fig, frame, "test_majority_rate")
    return fig


def port_gain_heatmap(data: ExperimentData) -> go.Figure:
    """Technique x host pair: ported minus scratch (paired by seed) at zero-shot and after receiver training, one
    column each; one row per test score (accuracy, and macro-F1 where reported); cells say mean and 95% interval."""
    from plotly.subplots import make_subplots

    from embedxfer.heatmaps import gain_heatmap
    from embedxfer.plots import LAYOUT, empty_figure

    title = f"{data.experiment_id}: port gain = ported − scratch (paired by seed, mean [95% CI])"
    table = paired_rows(data)
    table = table[table["comparison"] == "ported − scratch"] if not table.empty else table
    if table.empty:
        return empty_figure("No ported and scratch trials of one seed have finished yet.", title)
    scores = [s for s in _scores(data.completed(), _metric(data)) if (table["measure"] == f"test_{s} (final)").any()]
    scores = scores or [_metric(data)]
    titles = [f"test_{s} {when}" for s in scores for when in ("zero-shot (step 0)", "after receiver training")]
    fig = make_subplots(rows=len(scores), cols=2, subplot_titles=titles, horizontal_spacing=0.12)
    for row, score in enumerate(scores, start=1):
        mine = table[table["measure"].str.startswith(f"test_{score} (")]
        bound = float(mine["mean"].abs().max()) if not mine.empty else 0.0
        for col, when in enumerate(("(zero-shot)", "(final)"), start=1):
            part = mine[mine["measure"] == f"test_{score} {when}"]
            if part.empty:
                continue
            trace = gain_heatmap(
                part,
                y="technique",
                x="pair",
                bound=bound or 1e-6,
                colorbar=f"ported − scratch ({score})",
                hovertemplate="%{y} · %{x}: %{z:+.4f}<extra></extra>",
                showscale=False,
            )
            fig.add_trace(trace, row=row, col=col)
    techniques = table["technique"].nunique()
    fig.update_layout(title=title, height=150 + (60 + 80 * techniques) * len(scores), **LAYOUT)
    return fig


def port_report_table(data: ExperimentData) -> pd.DataFrame:
    """Every tensor of every port, from the first seed's ported trial of each setting (later seeds port the same
    tensors with the same shapes): setting, parameter, action, source, shapes, note."""
    import pandas as pd

    from embedxfer.errors import StoreError
    from embedxfer.experiments.module_porting.trial import REPORT_ARTIFACT

    frame = _trials(data)
    columns = ["setting", "parameter", "action", "source", "source_shape", "target_shape", "values", "note"]
    if frame.empty or data.store_root is None:
        return pd.DataFrame(columns=columns)
    ported = frame[frame["condition"] == "ported"].sort_values("seed")
    rows = []
    for (technique, pair), part in ported.groupby(["technique", "pair"], sort=False):
        try:
            import json

            report = json.loads(data.artifact(part["trial_id"].iloc[0], REPORT_ARTIFACT))
        except StoreError:
            continue
        for entry in report["entries"]:
            shapes = [
                None if s is None else "x".join(map(str, s)) for s in (entry["source_shape"], entry["target_shape"])
            ]
            rows.append(
                [f"{technique} · {pair}", entry["parameter"], entry["action"], entry["source"], *shapes]
                + [entry.get("values", 0), entry["note"]]
            )
    return pd.DataFrame(rows, columns=columns)


FIGURES = (
    FigureSpec("receiver_curves", "Accuracy on the receiving host against steps", receiver_curves),
    FigureSpec("zero_shot_bars", "Zero-shot accuracy after porting", zero_shot_bars),
    FigureSpec("port_gain_heatmap", "Port gain (ported − scratch) per technique and host pair", port_gain_heatmap),
)
