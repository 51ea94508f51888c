"""Tasks & data: the task registry with sizes, label balance and sample rows; upload a data file as a task."""

import pandas as pd
import plotly.express as px
import streamlit as st
import yaml

from embedxfer import workspace
from embedxfer.errors import EmbedxferError
from embedxfer.tasks import list_tasks, load_task
from embedxfer.tasks.files import read_table
from ui import services
from ui.common import PAGE_NEW, short_task, show_error, show_text_block


@st.cache_data(max_entries=16, show_spinner="Loading the task…")
def overview(name: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    from embedxfer.overviews import label_balance, sample_rows, task_overview

    task = load_task(name)
    return task_overview(task), label_balance(task), sample_rows(task)


def task_rows(registered: list[dict]) -> list[dict]:
    rows = [
        {"task": t.name, "modality": t.modality, "labels": t.label_kind, "metric": t.metric, "about": t.description}
        for t in list_tasks()
    ]
    rows += [
        {
            "task": t["name"],
            "modality": "text",
            "labels": t.get("label_kind", "classes"),
            "metric": "pearson" if t.get("label_kind") == "regression" else "accuracy",
            "about": f"your file {short_task(t['name'])}: text {t['text_column']!r}, label {t['label_column']!r}",
        }
        for t in registered
    ]
    return rows


def task_section(names: list[str]) -> None:
    """Sizes, label balance, sample rows and the cleaning report of one task."""
    name = st.selectbox("Task", names, key="data-task", format_func=short_task)
    if not name:
        return
    try:
        facts, balance, samples = overview(name)
    except EmbedxferError as exc:
        show_error(exc)
        return
    sizes = facts["sizes"]
    cols = st.columns(4)
    cols[0].metric("train", f"{sizes['train']:,}")
    cols[1].metric("val", f"{sizes['val']:,}")
    cols[2].metric("test", f"{sizes['test']:,}")
    cols[3].metric("classes" if facts["label_kind"] == "classes" else "target", facts["classes"] or "regression")
    if facts["description"]:
        st.caption(f"{facts['description']} Source: {facts['source'] or 'generated'}.")
    left, right = st.columns(2)
    with left:
        st.markdown("**Label balance**")
        if facts["label_kind"] == "classes" and not balance.empty:
            fig = px.bar(balance, x="label", y="share", color="split", barmode="group", height=300)
            st.plotly_chart(fig, key="data-balance")
        else:
            st.dataframe(balance, hide_index=True)
    with right:
        st.markdown("**Sample training rows**")
        # the label first: long texts would push it out of view
        front = [c for c in ("label",) if c in samples.columns]
        st.dataframe(samples[[*front, *(c for c in samples.columns if c not in front)]], hide_index=True)
    if facts["cleaning"]:
        with st.expander("Cleaning report (rows dropped and why)"):
            show_text_block(yaml.safe_dump(facts["cleaning"], sort_keys=False))


def upload_section(registered: list[dict]) -> None:
    st.caption(
        f"CSV, TSV, JSONL or Parquet with a text column and a label column, up to "
        f"{workspace.MAX_UPLOAD_BYTES // 2**20} MB. The file is saved under the embedxfer home (`uploads/`) and "
        "registered as a task that every experiment form offers."
    )
    upload = st.file_uploader(
        "Data file", type=["csv", "tsv", "jsonl", "ndjson", "parquet"], key="data-upload", accept_multiple_files=False
    )
    if upload is None:
        st.info("Upload a file to choose its columns; nothing is registered until you press “Add as task”.")
    else:
        try:
            path = workspace.save_upload(upload.name, upload.getvalue())
            frame = read_table(path)
        except EmbedxferError as exc:
            show_error(exc)
        else:
            choose_columns(path, frame)
    if registered:
        with st.expander("Registered data files"):
            col = st.columns([3, 1], vertical_alignment="bottom")
            gone = col[0].selectbox("Forget a registered task", [t["name"] for t in registered], key="data-remove-id")
            if col[1].button("Forget", key="data-remove"):
                workspace.remove_task(gone)
                services.clear_catalog_caches()
                overview.clear()
                st.rerun()


def choose_columns(path, frame: pd.DataFrame) -> None:
    """Preview an uploaded table, pick its text and label columns, register it as a task."""
    columns = [str(c) for c in frame.columns]
    st.caption(f"{len(frame):,} rows, columns: {', '.join(columns)}")
    st.dataframe(frame.head(5), hide_index=True, width="stretch")

    def guess(candidates: tuple[str, ...], fallback: int) -> int:
        lowered = [c.lower() for c in columns]
        return next((lowered.index(c) for c in candidates if c in lowered), min(fallback, len(columns) - 1))

    cols = st.columns(3)
    text_col = cols[0].selectbox(
        "Text column", columns, index=guess(("text", "sentence", "review"), 0), key="data-text"
    )
    label_col = cols[1].selectbox(
        "Label column", columns, index=guess(("label", "labels", "target"), 1), key="data-label"
    )
    kind = cols[2].radio("Labels are", ["classes", "regression"], key="data-kind", horizontal=True)
    if text_col == label_col:
        st.warning("Pick different columns for the text and the label.")
    if st.button("Add as task", key="data-add", type="primary", disabled=text_col == label_col):
        try:
            task_name, task = workspace.add_file_task(path, text_col, label_col, label_kind=kind)
        except EmbedxferError as exc:
            show_error(exc)
        else:
            services.clear_catalog_caches()
            sizes = task.sizes()
            st.success(
                f"Added task `{task_name}` ({sizes['train']} train / {sizes['val']} val / {sizes['test']} test)."
            )
            st.page_link(PAGE_NEW, label="Use it in a new experiment", icon=":material/science:")


st.title("Tasks & data")
try:
    registered = workspace.registered_tasks()
except EmbedxferError as exc:
    show_error(exc)
    registered = []
rows = task_rows(registered)

# Lazy tabs: only the open section runs and is sent (each kind of element costs the browser time on every full
# page load, and this page would otherwise open with two tables, a chart and an uploader).
all_tab, task_tab, upload_tab = st.tabs(
    ["All tasks", "Look at a task", "Use your own data"], key="data-tabs", on_change="rerun"
)
if all_tab.open:
    with all_tab:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(
            "Sizes, label balance and sample rows: “Look at a task”. Your own CSV / JSONL / Parquet file: "
            "“Use your own data”."
        )
if task_tab.open:
    with task_tab:
        task_section([row["task"] for row in rows])
if upload_tab.open:
    with upload_tab:
        upload_section(registered)
