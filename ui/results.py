"""Results of one experiment: the summary table (mean and 95% interval per condition), the kind's figures
and downloads (metrics CSV, config YAML, HTML report and figures, PNG when Chromium is installed)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from embedxfer.errors import EmbedxferError
from embedxfer.results import ExperimentData, build_figure, export, figures_for, load_experiment_data, summary_table
from embedxfer.results.board import BoardItem, format_board, parse_board
from embedxfer.results.claims import claims_for, claims_table
from embedxfer.results.extras import downloads_for, kind_tables
from embedxfer.results.paper_tables import TABLE_FORMATS
from ui import services
from ui.common import ACTIVE, PAGE_BOARD, show_error

BOARD_MEMORY = "board-last"  # the board's URL value, remembered so "Add to board" extends it


@st.cache_data(max_entries=16, show_spinner="Reading results…")
def experiment_data(home: str, experiment_id: str, stamp: str) -> ExperimentData:
    """Cached per (experiment, last update): a finished experiment is read once, a running one as it changes."""
    return load_experiment_data(services.store(), experiment_id)


def data_for(exp: dict[str, Any]) -> ExperimentData:
    stamp = f"{exp['updated_at']}|{sorted(exp['counts'].items())}"
    return experiment_data(str(services.store().root), exp["experiment_id"], stamp)


def render_results(store: Any, exp: dict[str, Any]) -> None:
    completed = exp["counts"].get("completed", 0)
    st.subheader("Results")
    if not completed:
        if exp["status"] in ACTIVE:
            st.info("The summary and figures appear as soon as the first trial completes.")
        else:
            st.info("No trial completed, so there is nothing to summarise; see the errors above and the events below.")
        return
    try:
        data = data_for(exp)
    except EmbedxferError as exc:
        show_error(exc)
        return
    claims = [("Claims", claims_table)] if claims_for(data.kind) else []  # first: does the run support the paper?
    tables = [
        *claims,
        ("Mean and 95% interval over seeds, per condition", lambda d: summary_table(d.result, d.primary_metric)),
        ("All metrics, one row per trial", lambda d: d.trials),
        *kind_tables(data.kind),  # paired comparisons, then the kind's own tables
    ]
    # lazy tabs (like the figures below): a collapsed expander or a hidden tab would still draw its data grid
    tabs = st.tabs([title for title, _ in tables], key="runs-table-tabs", on_change="rerun")
    for tab, (_, build) in zip(tabs, tables, strict=True):
        if tab.open:
            try:
                tab.dataframe(build(data), hide_index=True, width="stretch")
            except Exception as exc:  # noqa: BLE001 - one broken table must not hide the figures
                show_error(exc)
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
            "Download PNG",
            png,
            file_name=f"{experiment_id}-{name}.png",
            mime="image/png",
            on_click="ignore",
            icon=":material/download:",
            key=f"runs-png-download-{name}",
        )


def _downloads(data: ExperimentData) -> None:
    st.markdown("**Downloads**")
    eid = data.experiment_id
    names = [spec.name for spec in figures_for(data.kind)]
    extras = downloads_for(data.kind)
    cols = st.columns(6 + len(extras))
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
        "Report (HTML)",
        lambda: export.html_report(data),
        file_name=f"{eid}-report.html",
        mime="text/html",
        key="runs-dl-report",
        on_click="ignore",
    )
    cols[3].download_button(
        "Figures (HTML)",
        lambda: export.figures_document(data, names),
        file_name=f"{eid}-figures.html",
        mime="text/html",
        key="runs-dl-figures",
        disabled=not names,
        on_click="ignore",
    )
    for col, (fmt, (suffix, mime, label, document)) in zip(cols[4:6], TABLE_FORMATS.items(), strict=True):
        col.download_button(
            label,
            lambda document=document: document(data),
            file_name=f"{eid}-tables.{suffix}",
            mime=mime,
            key=f"runs-dl-{fmt}",
            on_click="ignore",
        )
    for col, spec in zip(cols[6:], extras, strict=True):
        col.download_button(
            spec.label,
            lambda spec=spec: spec.build(data),  # built on click: module archives can be large
            file_name=spec.file_name(eid),
            mime=spec.mime,
            key=f"runs-dl-{spec.name}",
            on_click="ignore",
        )
