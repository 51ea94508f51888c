"""A board: figures from any stored experiments laid out side by side, encoded as short text.

The dashboard keeps a board in the URL (``?board=<experiment>:<figure>,...&cols=2``) so a refresh
or a copied link restores it; `board_html` writes the same layout as one self-contained HTML file
with plotly.js inlined once (it opens offline, e.g. in a group meeting).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embedxfer.results.html import FigureWriter, html_page

if TYPE_CHECKING:
    import plotly.graph_objects as go

MIN_COLS, MAX_COLS, DEFAULT_COLS = 2, 4, 2
# experiment ids are "<date>-<time>-<hex>"; figure names are registry keys (snake_case); a Layer view joins its
# experiments' ids with '+' (embedxfer/results/layer_view.py)
_ITEM = re.compile(
    r"^(?P<experiment>[A-Za-z0-9][A-Za-z0-9._-]*(\+[A-Za-z0-9][A-Za-z0-9._-]*)*):(?P<figure>[A-Za-z0-9_.-]+)$"
)


@dataclass(frozen=True)
class BoardItem:
    experiment_id: str
    figure: str

    def key(self) -> str:
        return f"{self.experiment_id}:{self.figure}"

    @property
    def experiment_ids(self) -> list[str]:
        """The experiments the item draws: one, or a Layer view's several."""
        return self.experiment_id.split("+")


def parse_board(text: str | None) -> tuple[list[BoardItem], list[str]]:
    """Parse ``"exp:fig,exp:fig"`` into items (duplicates dropped, order kept) and the malformed pieces."""
    items: list[BoardItem] = []
    bad: list[str] = []
    for piece in (text or "").split(","):
        piece = piece.strip()
        if not piece:
            continue
        match = _ITEM.match(piece)
        if match is None:
            bad.append(piece)
            continue
        item = BoardItem(match["experiment"], match["figure"])
        if item not in items:
            items.append(item)
    return items, bad


def format_board(items: Sequence[BoardItem]) -> str:
    """The inverse of `parse_board`."""
    return ",".join(item.key() for item in items)


def parse_cols(text: str | None) -> int:
    """Columns from the URL: an int clamped to 2-4, DEFAULT_COLS when missing or not a number."""
    try:
        value = int(str(text))
    except (TypeError, ValueError):
        return DEFAULT_COLS
    return max(MIN_COLS, min(MAX_COLS, value))


def board_html(tiles: Sequence[tuple[str, go.Figure | None, str]], cols: int, *, title: str = "embedxfer board") -> str:
    """One HTML file laying out `tiles` ((caption, figure or None, note)) in a `cols`-column grid.

    plotly.js is inlined with the first figure only, so the file stays self-contained but not
    N times larger. A tile without a figure shows its note (e.g. "experiment deleted").
    """
    cols = max(MIN_COLS, min(MAX_COLS, int(cols)))
    style = (
        f".grid{{display:grid;grid-template-columns:repeat({cols},minmax(0,1fr));gap:1rem}}"
        ".tile{border:1px solid #e5e7eb;border-radius:8px;padding:.5rem;min-width:0}"
        ".tile h3{font-size:.9rem;margin:.2rem .4rem;color:#334155}.note{color:#64748b;padding:2rem}"
    )
    writer = FigureWriter()
    body = [f"<h1>{html.escape(title)}</h1><div class='grid'>"]
    for caption, fig, note in tiles:
        body.append(f"<div class='tile'><h3>{html.escape(caption)}</h3>")
        if fig is None:
            body.append(f"<p class='note'>{html.escape(note or 'nothing to show')}</p>")
        else:
            body.append(writer.fragment(fig, responsive=True))
        body.append("</div>")
    if not tiles:
        body.append("<p class='note'>This board is empty.</p>")
    body.append("</div>")
    return html_page(title, body, style=style)
