"""The one builder of embedxfer's self-contained HTML pages (report, figures, board): a page with inline styles
and plotly.js inlined once, with the first figure, so the file opens offline (in a group meeting, say)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

BASE_STYLE = "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1400px}"


def html_page(title: str, body: Iterable[str], *, style: str = "") -> str:
    """A complete HTML document titled `title` whose body is the given fragments (already HTML)."""
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    return "\n".join([f"{head}<style>{BASE_STYLE}{style}</style></head><body>", *body, "</body></html>"])


class FigureWriter:
    """Turns figures into HTML fragments; the first one written carries plotly.js, the others reuse it."""

    def __init__(self) -> None:
        self.js_included = False

    def fragment(self, fig: go.Figure, *, responsive: bool = False) -> str:
        extra = {"default_width": "100%", "config": {"responsive": True}} if responsive else {}
        out = fig.to_html(full_html=False, include_plotlyjs=not self.js_included, **extra)
        self.js_included = True
        return out
