"""Plotly builders for the explorer's maps: token maps (one or two panels, WebGL, every row), layer maps with a
layer slider, and the similarity matrix. Pure functions of frames, like `embedxfer.plots`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

#: Token kinds and their colours (embedxfer.analysis.vocab.TOKEN_KINDS, same order).
KIND_COLORS = {
    "word start": "#4C78A8",
    "continuation": "#F58518",
    "digit": "#54A24B",
    "punctuation": "#B279A2",
    "special": "#E45756",
}
LABEL_COLORS = ("#4C78A8", "#E45756", "#54A24B", "#F58518", "#B279A2", "#72B7B2", "#FF9DA6", "#9D755D")
MAP_LAYOUT = {"template": "plotly_white", "hovermode": "closest", "height": 560, "legend": {"itemsizing": "constant"}}
_MARKER = {"size": 3, "opacity": 0.65}


def _panels(titles: Sequence[str]) -> go.Figure:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=list(titles), horizontal_spacing=0.04)
    for col in range(1, len(titles) + 1):
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=col)
    return fig


def plot_token_maps(
    panels: Sequence[tuple[str, pd.DataFrame]],
    *,
    values: Sequence[np.ndarray] | None = None,
    value_title: str = "",
    highlight: str | None = None,
    title: str = "",
) -> go.Figure:
    """One panel per (title, frame with x, y, token, surface, kind); coloured by token kind, or by `values` (one
    array per panel, NaN = no value: drawn grey). `highlight` (a surface) is ringed and labelled in every panel."""
    import plotly.graph_objects as go

    fig = _panels([name for name, _ in panels])
    for col, (name, frame) in enumerate(panels, start=1):
        if values is None:
            for kind, colour in KIND_COLORS.items():
                part = frame[frame["kind"] == kind]
                if part.empty:
                    continue
                fig.add_trace(_points(part, name, kind, {"color": colour}, legend=col == 1), row=1, col=col)
        else:
            shown = np.asarray(values[col - 1], dtype=float)
            missing = np.isnan(shown)
            fig.add_trace(_points(frame[missing], name, "no value", {"color": "#D0D0D0"}, legend=col == 1), 1, col)
            colours = {
                "color": shown[~missing],
                "colorscale": "RdBu",
                "cmid": 0.0 if shown[~missing].min(initial=0) < 0 else None,
            }
            if col == 1:
                colours["colorbar"] = {"title": value_title, "thickness": 12}
            fig.add_trace(_points(frame[~missing], name, value_title, colours, legend=False), row=1, col=col)
        if highlight is not None:
            hit = frame[frame["surface"] == highlight]
            if not hit.empty:
                fig.add_trace(
                    go.Scatter(
                        x=hit["x"],
                        y=hit["y"],
                        mode="markers+text",
                        text=hit["token"],
                        textposition="top center",
                        marker={"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
                        name=f"search: {highlight.strip()}",
                        showlegend=col == 1,
                        hoverinfo="text",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_layout(title=title, **MAP_LAYOUT)
    return fig


def _points(frame: pd.DataFrame, panel: str, name: str, colour: dict, *, legend: bool) -> go.Scattergl:
    import plotly.graph_objects as go

    return go.Scattergl(
        x=frame["x"].to_numpy(np.float32).round(3),
        y=frame["y"].to_numpy(np.float32).round(3),
        mode="markers",
        marker={**_MARKER, **{k: v for k, v in colour.items() if v is not None}},
        hovertext=frame["token"].tolist(),
        hovertemplate="%{hovertext}<extra>" + panel + "</extra>",
        name=name,
        legendgroup=name,
        showlegend=legend,
    )


def plot_layer_map(layers: dict[int, pd.DataFrame], *, title: str = "") -> go.Figure:
    """Each layer's map of examples (frames with x, y, label, text), coloured by label; a slider picks the layer
    (every layer's points are in the figure, so the slider works on the Board and in exported HTML too)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    labels = sorted({str(v) for frame in layers.values() for v in frame["label"]})
    categorical = len(labels) <= len(LABEL_COLORS) and not _numeric_many(layers)
    owners: list[int] = []
    for index, (_, frame) in enumerate(sorted(layers.items())):
        if categorical:
            for i, label in enumerate(labels):
                part = frame[frame["label"].astype(str) == label]
                fig.add_trace(_example_points(part, f"label {label}", {"color": LABEL_COLORS[i]}, index == 0))
                owners.append(index)
        else:
            colours = {"color": frame["label"].astype(float), "colorscale": "Viridis", "colorbar": {"title": "label"}}
            fig.add_trace(_example_points(frame, "label", colours, index == 0))
            owners.append(index)
    ordered = sorted(layers)
    steps = [
        {
            "method": "update",
            "label": str(layer),
            "args": [{"visible": [owner == index for owner in owners]}, {"title": f"{title} · layer {layer}"}],
        }
        for index, layer in enumerate(ordered)
    ]
    for trace, owner in zip(fig.data, owners, strict=True):
        trace.visible = owner == 0
    fig.update_layout(
        title=f"{title} · layer {ordered[0]}" if ordered else title,
        sliders=[{"active": 0, "currentvalue": {"prefix": "layer "}, "steps": steps, "pad": {"t": 30}}],
        xaxis={"showticklabels": False, "showgrid": False, "zeroline": False},
        yaxis={"showticklabels": False, "showgrid": False, "zeroline": False},
        **MAP_LAYOUT,
    )
    return fig


def _numeric_many(layers: dict[int, pd.DataFrame]) -> bool:
    frame = next(iter(layers.values()))
    return frame["label"].dtype.kind == "f"


def _example_points(frame: pd.DataFrame, name: str, colour: dict, first: bool) -> go.Scattergl:
    import plotly.graph_objects as go

    return go.Scattergl(
        x=frame["x"].to_numpy(np.float32).round(3),
        y=frame["y"].to_numpy(np.float32).round(3),
        mode="markers",
        marker={"size": 5, "opacity": 0.7, **colour},
        hovertext=frame["text"].tolist(),
        hovertemplate="%{hovertext}<extra>" + name + "</extra>",
        name=name,
        legendgroup=name,
        showlegend=first,
    )


#: The similarity measures a figure shows: (metric, title, higher means more similar?)
SIMILARITY_MEASURES = (
    ("cka", "linear CKA", True),
    ("knn_overlap", "kNN overlap@k", True),
    ("procrustes_residual", "Procrustes residual", False),
)


def plot_similarity(frame: pd.DataFrame, checkpoints: Sequence[str], *, title: str = "") -> go.Figure:
    """Rows (a, b, metric columns and their `_shuffled` references, averaged over seeds): a matrix per measure for
    three or more checkpoints, bars (measure and shuffled reference) for one pair."""
    import plotly.graph_objects as go

    names = [title_ for _, title_, _ in SIMILARITY_MEASURES]
    fig = _panels(names)
    pairs = frame.groupby(["a", "b"]).mean(numeric_only=True).reset_index()
    if len(checkpoints) >= 3:
        for col, (metric, _, higher) in enumerate(SIMILARITY_MEASURES, start=1):
            grid = np.full((len(checkpoints), len(checkpoints)), np.nan)
            text = np.full(grid.shape, "", dtype=object)
            for i, _ in enumerate(checkpoints):
                grid[i, i] = 1.0 if higher else 0.0
                text[i, i] = "—"
            for row in pairs.itertuples():
                i, j = checkpoints.index(row.a), checkpoints.index(row.b)
                value, ref = getattr(row, metric), getattr(row, metric + "_shuffled")
                grid[i, j] = grid[j, i] = value
                text[i, j] = text[j, i] = f"{value:.3f}<br>(shuffled {ref:.3f})"
            fig.add_trace(
                go.Heatmap(
                    z=grid,
                    x=list(checkpoints),
                    y=list(checkpoints),
                    text=text,
                    texttemplate="%{text}",
                    colorscale="Blues" if higher else "Blues_r",
                    zmin=0,
                    zmax=1,
                    showscale=False,
                ),
                row=1,
                col=col,
            )
            fig.update_xaxes(showticklabels=True, row=1, col=col)
            fig.update_yaxes(showticklabels=col == 1, autorange="reversed", row=1, col=col)
    else:
        labels = [f"{row.a} vs {row.b}" for row in pairs.itertuples()]
        for col, (metric, _, _) in enumerate(SIMILARITY_MEASURES, start=1):
            for suffix, name, colour in (("", "measured", "#4C78A8"), ("_shuffled", "shuffled rows", "#BBBBBB")):
                fig.add_trace(
                    go.Bar(
                        x=labels,
                        y=pairs[metric + suffix],
                        name=name,
                        marker_color=colour,
                        legendgroup=name,
                        showlegend=col == 1,
                        text=[f"{v:.3f}" for v in pairs[metric + suffix]],
                    ),
                    row=1,
                    col=col,
                )
            fig.update_yaxes(showticklabels=True, range=[0, 1.05], row=1, col=col)
            fig.update_xaxes(showticklabels=True, row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", height=460, barmode="group")
    return fig
