"""Runs: the experiment history (filter by kind, status, checkpoint, task) and, with ``?experiment=<id>``,
one experiment's live progress, actions, results and downloads."""

import pandas as pd
import streamlit as st

from embedxfer.errors import StoreError
from embedxfer.experiments import list_kinds
from embedxfer.trials import EXPERIMENT_STATUSES
from ui import services
from ui.common import (
    ACTIVE,
    PAGE_NEW,
    counted,
    fmt_time,
    mentioned_checkpoints,
    mentioned_tasks,
    short_task,
    show_error,
    status_text,
)
from ui.experiment_view import render_experiment

ANY = "any"


def open_experiment(experiment_id: str) -> None:
    st.query_params["experiment"] = experiment_id
    st.rerun()


def history_table(experiments: list[dict]) -> pd.DataFrame:
    rows = []
    for exp in experiments:
        counts, config = exp["counts"], exp["config"]
        rows.append(
            {
                "experiment": exp["experiment_id"],
                "name": exp["name"],
                "kind": exp["kind"],
                "status": status_text(exp["status"]),
                "done": f"{counts.get('completed', 0)}/{exp['n_trials']}",
                "checkpoint": ", ".join(mentioned_checkpoints(config)),
                "task": ", ".join(mentioned_tasks(config)),
                "created": fmt_time(exp["created_at"]),
            }
        )
    return pd.DataFrame(rows)


def render_history(filters: dict) -> None:
    try:
        experiments = services.store().list_experiments(**filters, limit=200)
    except StoreError as exc:
        show_error(exc)
        return
    if not experiments:
        if any(filters.values()):
            st.info("No experiment matches these filters; set them back to “any” to see all.")
        else:
            st.info("No experiments yet. Launch one from New experiment, or run `embedxfer run config.yaml`.")
            st.page_link(PAGE_NEW, label="New experiment", icon=":material/science:")
        return
    active = sum(1 for exp in experiments if exp["status"] in ACTIVE)
    st.caption(f"{counted(len(experiments), 'experiment')}, {active} active. Select a row to open it.")
    event = st.dataframe(
        history_table(experiments),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="runs-table",
    )
    rows = event.selection.rows if event is not None else []
    if rows:
        open_experiment(experiments[rows[0]]["experiment_id"])


jm = services.job_manager()
wanted = st.query_params.get("experiment")
if wanted:
    try:
        experiment_id = jm.store.resolve_experiment_id(wanted)
    except StoreError as exc:
        show_error(exc)
        experiment_id = None
    if st.button("← All runs", key="runs-back"):
        st.query_params.pop("experiment", None)
        st.rerun()
    if experiment_id:
        try:
            render_experiment(jm, experiment_id)
        except StoreError as exc:  # deleted from another tab between listing and reading
            show_error(exc)
else:
    st.title("Runs")
    cols = st.columns(4)
    kinds = [ANY] + [kind.name for kind in list_kinds()]
    kind = cols[0].selectbox("Kind", kinds, key="runs-kind")
    status = cols[1].selectbox("Status", [ANY, *EXPERIMENT_STATUSES], key="runs-status")
    checkpoint = cols[2].selectbox(
        "Checkpoint", [ANY, *services.checkpoint_ids()], key="runs-checkpoint", accept_new_options=True
    )
    task = cols[3].selectbox(
        "Task", [ANY, *services.task_names()], key="runs-task", accept_new_options=True, format_func=short_task
    )
    filters = {
        name: (None if value in (ANY, None, "") else value)
        for name, value in (("kind", kind), ("status", status), ("checkpoint", checkpoint), ("task", task))
    }
    running = any(exp["status"] in ACTIVE for exp in jm.store.list_experiments(limit=50))
    # refresh the list on its own while something runs, so statuses move without a click
    st.fragment(run_every=3.0 if running else None)(render_history)(filters)
    with st.expander("Open by id"):
        typed = st.text_input("Experiment id (or its last characters)", key="runs-open-id")
        if st.button("Open", key="runs-open", disabled=not typed.strip()):
            open_experiment(typed.strip())
