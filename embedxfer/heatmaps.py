"""Signed paired gains as a heatmap (embedding_transfer's transfer matrix, module_porting's port gains): red and blue
around 0, every cell with its mean, 95% interval and n."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from embedxfer.stats import format_ci, has_interval


def gain_heatmap(
    frame: pd.DataFrame,
    *,
    y: str,
    x: str,
    bound: float,
    colorbar: str,
    hovertemplate: str,
    showscale: bool = True,
) -> go.Heatmap:
    """Signed paired gains as a heatmap trace: one cell per row of `frame` (columns `y`, `x`, mean, low, high, n, in
    the order rows and columns first appear), red/blue around 0 on the symmetric range +-bound, each cell showing
    its mean, 95% interval and n (or "n=1, no interval")."""
    ys, xs = list(dict.fromkeys(frame[y])), list(dict.fromkeys(frame[x]))
    cells = {(getattr(r, y), getattr(r, x)): r for r in frame.itertuples(index=False)}
    z = [[cells[(a, b)].mean if (a, b) in cells else None for b in xs] for a in ys]
    text = [[_cell_text(c) if (c := cells.get((a, b))) else "" for b in xs] for a in ys]
    return go.Heatmap(
        z=z,
        x=xs,
        y=ys,
        text=text,
        texttemplate="%{text}",
        colorscale="RdBu",
        zmid=0,
        zmin=-bound,
        zmax=bound,
        showscale=showscale,
        colorbar=dict(title=colorbar),
        hovertemplate=hovertemplate,
    )


def _cell_text(cell: Any) -> str:
    """A heatmap cell's text: mean, interval and n on three lines, or the mean over 'n=1, no interval'."""
    text = f"{cell.mean:+.3f}<br>{format_ci(cell.low, cell.high, cell.n, '+.3f')}"
    return text + (f"<br>n={int(cell.n)}" if has_interval(cell.low, cell.high, cell.n) else "")
