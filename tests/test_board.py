"""Boards encoded in the URL, and their self-contained HTML export."""

from __future__ import annotations

import plotly.graph_objects as go

from embedxfer.results.board import BoardItem, board_html, format_board, parse_board, parse_cols


def test_parse_and_format_roundtrip():
    text = "20261122-031500-a1b2:summary, 20261122-031500-a1b2:train_loss,,20261122-031500-a1b2:summary"
    items, bad = parse_board(text)
    assert items == [BoardItem("20261122-031500-a1b2", "summary"), BoardItem("20261122-031500-a1b2", "train_loss")]
    assert bad == []
    assert parse_board(format_board(items)) == (items, [])


def test_malformed_entries_are_returned_not_raised():
    items, bad = parse_board("nocolon,a:b,:fig,exp:,x:y:z,<script>:x")
    assert items == [BoardItem("a", "b")]
    assert bad == ["nocolon", ":fig", "exp:", "x:y:z", "<script>:x"]
    assert parse_board(None) == ([], [])


def test_cols_are_clamped():
    assert [parse_cols(v) for v in (None, "x", "1", "2", "3", "4", "9")] == [2, 2, 2, 2, 3, 4, 4]


def test_board_html_inlines_plotly_once_and_escapes():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    page = board_html([("a <b>", fig, ""), ("second", fig, ""), ("gone", None, "Experiment x is <gone>")], 3)
    assert page.count("* plotly.js v") == 1  # the plotly.js bundle, inlined once
    assert "repeat(3," in page and "a &lt;b&gt;" in page and "Experiment x is &lt;gone&gt;" in page
    assert page.count("class='tile'") == 3
    assert "This board is empty" in board_html([], 2)
