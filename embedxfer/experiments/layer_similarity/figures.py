"""layer_similarity's figures: the layer x layer heatmap per measure with its best-match path, each layer of A's
best match in B, and the similarity at equal relative depth; every value with its bootstrap interval and null.

The observed values do not depend on the seed; with several seeds the figures show the first seed's draws."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.layer_similarity.measures import best_matches
from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from embedxfer.experiments.layer_similarity.measures import Grid
    from embedxfer.experiments.outputs import ExperimentData


def read_grids(data: ExperimentData, seed: int | None = None) -> dict[str, Grid]:
    """measure -> Grid of the completed trials of one seed (the first by default), in the config's measure order."""
    from embedxfer.experiments.layer_similarity.measures import Grid
    from embedxfer.experiments.layer_similarity.trial import GRID_ARTIFACT

    done = data.completed()
    if done.empty:
        raise EmbedxferError(f"{data.experiment_id} has no finished similarity grid yet.")
    seed = int(done["seed"].min()) if seed is None else seed
    rows = {row.condition: row for row in done[done["seed"] == seed].itertuples()}
    order = [m for m in data.result["config"].get("measures", []) if m in rows] or sorted(rows)
    return {m: Grid.from_dict(json.loads(data.artifact(rows[m].trial_id, GRID_ARTIFACT))) for m in order}


def _names(data: ExperimentData) -> tuple[str, str]:
    checkpoints = data.result["config"]["checkpoints"]
    return checkpoints[0], checkpoints[-1]


_LABELS = {"cka": "debiased CKA", "mutual_knn": "mutual kNN", "procrustes": "Procrustes distance"}


def _cell_hover(grid: Grid, i: int, j: int) -> str:
    low, high = grid.ci_low[i, j], grid.ci_high[i, j]
    interval = f"95% CI [{low:.3f}, {high:.3f}]" if np.isfinite(low) else "no interval (bootstraps: 0)"
    null = (
        f"null mean {grid.null_mean[i, j]:.3f}, p {grid.null_p[i, j]:.3f}"
        if np.isfinite(grid.null_mean[i, j])
        else "no null (permutations: 0)"
    )
    return f"{grid.observed[i, j]:.3f}<br>{interval}<br>{null}"


def similarity_heatmap(data: ExperimentData) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    grids = read_grids(data)
    a, b = _names(data)
    fig = make_subplots(rows=1, cols=len(grids), subplot_titles=[_LABELS[m] for m in grids], horizontal_spacing=0.08)
    for col, (measure, grid) in enumerate(grids.items(), start=1):
        la, lb = grid.observed.shape
        hover = [[_cell_hover(grid, i, j) for j in range(lb)] for i in range(la)]
        text = [[f"{grid.observed[i, j]:.2f}" for j in range(lb)] for i in range(la)]
        fig.add_trace(
            go.Heatmap(
                z=grid.observed,
                x=list(range(lb)),
                y=list(range(la)),
                text=text,
                texttemplate="%{text}",
                customdata=hover,
                hovertemplate=f"{a} %{{y}} x {b} %{{x}}<br>%{{customdata}}<extra>{measure}</extra>",
                colorscale="Viridis" if measure != "procrustes" else "Viridis_r",
                showscale=False,
            ),
            row=1,
            col=col,
        )
        best = best_matches(grid)
        fig.add_trace(
            go.Scatter(
                x=best,
                y=list(range(la)),
                mode="lines+markers",
                line=dict(color="#ef4444", width=2),
                name="best match",
                showlegend=col == 1,
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=f"{b} hidden state", dtick=1, row=1, col=col)
        fig.update_yaxes(title_text=f"{a} hidden state" if col == 1 else None, dtick=1, row=1, col=col)
    fig.update_layout(
        title=f"{data.experiment_id}: {a} x {b} layer similarity (red: each layer's best match; hover: interval, null)",
        template="plotly_white",
        height=420,
    )
    return fig


def best_match_rows(grid: Grid) -> list[dict]:
    """Per hidden state i of A: its best match j in B, the value with its interval, and the null mean."""
    return [
        {
            "layer": i,
            "best_match": j,
            "value": float(grid.observed[i, j]),
            "ci_low": float(grid.ci_low[i, j]),
            "ci_high": float(grid.ci_high[i, j]),
            "null_mean": float(grid.null_mean[i, j]),
        }
        for i, j in enumerate(best_matches(grid))
    ]


def depth_rows(grid: Grid) -> list[dict]:
    """Per hidden state i of A: the value at B's hidden state of equal relative depth, with interval and null."""
    from embedxfer.experiments.layer_similarity.measures import depth_match

    la, lb = grid.observed.shape[0] - 1, grid.observed.shape[1] - 1
    rows = []
    for i in range(la + 1):
        j = depth_match(i, la, lb)
        rows.append(
            {
                "layer": i,
                "depth": i / la if la else 0.0,
                "match": j,
                "value": float(grid.observed[i, j]),
                "ci_low": float(grid.ci_low[i, j]),
                "ci_high": float(grid.ci_high[i, j]),
                "null_mean": float(grid.null_mean[i, j]),
            }
        )
    return rows


def _line_with_interval(fig, rows: list[dict], x: str, *, name: str, color: str, text: list[str], row: int) -> None:
    import plotly.graph_objects as go

    from embedxfer.plots import whiskers

    fig.add_trace(
        go.Scatter(
            x=[r[x] for r in rows],
            y=[r["value"] for r in rows],
            mode="lines+markers+text",
            text=text,
            textposition="top center",
            name=name,
            line=dict(color=color),
            error_y=whiskers(
                [r["value"] for r in rows],
                [r["ci_low"] for r in rows],
                [r["ci_high"] for r in rows],
                [2 if np.isfinite(r["ci_low"]) else 1 for r in rows],
            ),
        ),
        row=row,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[r[x] for r in rows],
            y=[r["null_mean"] for r in rows],
            mode="lines",
            name=f"{name}: null mean",
            line=dict(color=color, dash="dot"),
        ),
        row=row,
        col=1,
    )


def _per_layer_figure(data: ExperimentData, *, kind: str) -> go.Figure:
    from plotly.subplots import make_subplots

    from embedxfer.plots import PALETTE

    grids = read_grids(data)
    a, b = _names(data)
    fig = make_subplots(rows=len(grids), cols=1, shared_xaxes=True, subplot_titles=[_LABELS[m] for m in grids])
    for index, (measure, grid) in enumerate(grids.items(), start=1):
        rows = best_match_rows(grid) if kind == "best" else depth_rows(grid)
        text = [str(r["best_match"] if kind == "best" else r["match"]) for r in rows]
        _line_with_interval(fig, rows, "layer", name=_LABELS[measure], color=PALETTE[index - 1], text=text, row=index)
    fig.update_xaxes(title_text=f"{a} hidden state (0 = embeddings)", dtick=1, row=len(grids), col=1)
    what = (
        f"each layer's most similar {b} layer (labels), 95% bootstrap interval, dotted: null mean"
        if kind == "best"
        else f"similarity to the {b} layer at equal relative depth (labels), 95% bootstrap interval, dotted: null"
    )
    fig.update_layout(title=f"{data.experiment_id}: {what}", template="plotly_white", height=260 * len(grids) + 80)
    return fig


def best_match(data: ExperimentData) -> go.Figure:
    return _per_layer_figure(data, kind="best")


def depth_diagonal(data: ExperimentData) -> go.Figure:
    return _per_layer_figure(data, kind="depth")


def layer_curve(data: ExperimentData):
    """The Layer view's curves: per hidden state of A, its best match's similarity and the similarity at equal
    relative depth, from the CKA grid (or the first measure), with their bootstrap intervals."""
    import pandas as pd

    grids = read_grids(data)
    measure, grid = ("cka", grids["cka"]) if "cka" in grids else next(iter(grids.items()))
    n = grid.bootstraps if grid.bootstraps >= 2 else 1
    rows = [
        (f"{_LABELS[measure]}: best match", r["layer"], r["value"], r["ci_low"], r["ci_high"], n)
        for r in best_match_rows(grid)
    ]
    rows += [
        (f"{_LABELS[measure]}: equal relative depth", r["layer"], r["value"], r["ci_low"], r["ci_high"], n)
        for r in depth_rows(grid)
    ]
    return pd.DataFrame(rows, columns=["series", "layer", "mean", "low", "high", "n"])


FIGURES = (
    FigureSpec("similarity_heatmap", "Layer x layer similarity (heatmap)", similarity_heatmap),
    FigureSpec("best_match", "Best-matching layer of B per layer of A", best_match),
    FigureSpec("depth_diagonal", "Similarity at equal relative depth", depth_diagonal),
)
