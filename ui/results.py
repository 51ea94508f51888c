"""Results of one experiment: the summary table (mean and 95% interval per condition), the kind's figures
and downloads (metrics CSV, config YAML, HTML report and figures, PNG when Chromium is installed)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from embedxfer import export
from embedxfer.board import BoardItem, format_board, parse_board
from embedxfer.errors import EmbedxferError
from embedxfer.figures import ExperimentData, build_figure, figures_for, load_experiment_data
from ui import services
from ui.common import PAGE_BOARD, show_error

BOARD_MEMORY = "board-last"  # the board's URL value, remembered so "Add to board" extends it


@st.cache_data(max_entries=16, show_spinner="Reading results…")
def experiment_data(home: str, experiment_id: str, stamp: str) -> ExperimentData:
    """Cached per (experiment, last update): a finished experiment is read once, a running one as it changes."""
    return load_experiment_data(services.store(), experiment_id)


def data_for(exp: dict[str, Any]) -> ExperimentData:
    stamp = f"{exp['updated_at']}|{sorted(exp['counts'].items())}"
    return experiment_data(str(services.store().root), exp["experiment_id"], stamp)


def _fmt(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.4g}"


def summary_frame(result: dict[str, Any], primary: str | None = None) -> pd.DataFrame:
    """Rows: condition (+ group params); columns: each test/val metric as 'mean [low, high]' with n."""
    rows: dict[tuple, dict[str, Any]] = {}
    metrics: list[str] = []
    for item in result["summary"]:
        metric = item["metric"]
        if not metric.startswith(("test_", "val_")):
            continue
        params = ", ".join(f"{k}={v}" for k, v in item["params"].items())
        key = (item["condition"], params)
        row = rows.setdefault(key, {"condition": item["condition"], **({"group": params} if params else {})})
        row[metric] = f"{_fmt(item['mean'])} [{_fmt(item['ci_low'])}, {_fmt(item['ci_high'])}]"
        row["n"] = item["n"]
        if metric not in metrics:
            metrics.append(metric)
    metrics.sort(key=lambda m: (m != primary, not m.startswith("test_"), m))
    frame = pd.DataFrame(list(rows.values()))
    front = [c for c in ("condition", "group") if c in frame]
    return frame[[*front, *metrics, "n"]] if not frame.empty else frame


def render_results(store: Any, exp: dict[str, Any]) -> None:
    completed = exp["counts"].get("completed", 0)
    st.subheader("Results")
    if not completed:
        if exp["status"] in ("queued", "running"):
            st.info("The summary and figures appear as soon as the first trial completes.")
        else:
            st.info("No trial completed, so there is nothing to summarise; see the errors above and the events below.")
        return
    try:
        data = data_for(exp)
    except EmbedxferError as exc:
        show_error(exc)
        return
    # lazy tabs (like the figures below): a collapsed expander or a hidden tab would still draw its data grid
    summary_tab, trials_tab = st.tabs(
        ["Mean and 95% interval over seeds, per condition", "All metrics, one row per trial"],
        key="runs-table-tabs", on_change="rerun",
    )  # fmt: skip
    if summary_tab.open:
        summary_tab.dataframe(summary_frame(data.result, data.primary_metric()), hide_index=True, width="stretch")
    if trials_tab.open:
        trials_tab.dataframe(data.trials, hide_index=True, width="stretch")
    _figures(data)
    _downloads(data)


def _add_to_board(item: BoardItem) -> None:
    items, _ = parse_board(st.session_state.get(BOARD_MEMORY, ""))
    if item not in items:
        items.append(item)
    st.switch_page(PAGE_BOARD, query_params={"board": format_board(items)})


def _figures(data: ExperimentData) -> None:
    specs = figures_for(data.kind)
    if not specs:
        st.info(f"Kind {data.kind!r} registers no figures yet; the table above has the numbers.")
        return
    # Lazy tabs: only the open tab's figure is built and sent, so the page stays quick with many figures.
    tabs = st.tabs([spec.title for spec in specs], key="runs-fig-tabs", on_change="rerun")
    for tab, spec in zip(tabs, specs, strict=True):
        if not tab.open:
            continue
        with tab:
            try:
                fig = build_figure(data, spec.name)
            except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
                show_error(exc)
                continue
            st.plotly_chart(fig, key=f"runs-fig-{spec.name}")
            left, right, _ = st.columns([1, 1, 3])
            if left.button("Add to board", key=f"runs-board-{spec.name}", icon=":material/add_chart:"):
                _add_to_board(BoardItem(data.experiment_id, spec.name))
            if right.button("Render PNG", key=f"runs-png-{spec.name}", icon=":material/image:"):
                _png_download(data.experiment_id, spec.name, fig)


def _png_download(experiment_id: str, name: str, fig: Any) -> None:
    try:
        with st.spinner("Rendering with Chromium…"):
            png = export.figure_png(fig)
    except EmbedxferError as exc:
        st.info(f"No PNG: {exc}")
    else:
        st.download_button(
            "Download PNG", png, file_name=f"{experiment_id}-{name}.png", mime="image/png", on_click="ignore",
            icon=":material/download:", key=f"runs-png-download-{name}",
        )  # fmt: skip


def _downloads(data: ExperimentData) -> None:
    st.markdown("**Downloads**")
    eid = data.experiment_id
    names = [spec.name for spec in figures_for(data.kind)]
    cols = st.columns(4)
    cols[0].download_button(
        "Metrics (CSV)",
        export.metrics_csv(data),
        file_name=f"{eid}-metrics.csv",
        mime="text/csv",
        key="runs-dl-csv",
        on_click="ignore",
    )
    cols[1].download_button(
        "Config (YAML)",
        export.config_yaml(data),
        file_name=f"{eid}-config.yaml",
        mime="text/yaml",
        key="runs-dl-yaml",
        on_click="ignore",
    )
    # callables: the HTML is built only when someone clicks (it inlines plotly.js, ~4 MB)
    cols[2].download_button(
        "Report (HTML)", lambda: export.html_report(data), file_name=f"{eid}-report.html", mime="text/html",
        key="runs-dl-report", on_click="ignore",
    )  # fmt: skip
    cols[3].download_button(
        "Figures (HTML)", lambda: _figures_document(data, names), file_name=f"{eid}-figures.html",
        mime="text/html", key="runs-dl-figures", disabled=not names, on_click="ignore",
    )  # fmt: skip


def _figures_document(data: ExperimentData, names: list[str]) -> str:
    body = "\n".join(export.figures_html(data, names))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{data.experiment_id} figures</title></head>"
        f"<body>{body}</body></html>"
    )
