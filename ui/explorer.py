"""Explorer page helpers: open the experiment that already answers a request (a cached map opens at once), or
queue one and show its progress until it is done; cached per-token colourings and token tables."""

from __future__ import annotations

from typing import Any

import streamlit as st

from embedxfer.cli_output import fmt_duration
from embedxfer.errors import EmbedxferError
from embedxfer.results import ExperimentData
from ui import services
from ui.common import ACTIVE, PAGE_RUNS, show_error
from ui.results import data_for


def obtain(config: dict[str, Any], *, label: str, key: str, queue: bool) -> ExperimentData | None:
    """The results of an experiment with exactly `config`: a finished one is returned at once; an active one shows
    its progress (and the page reruns when it ends); with `queue`, a missing one is submitted now."""
    from embedxfer.experiments import plan_experiment
    from embedxfer.results.lookup import find_experiment

    store = services.store()
    try:
        plan = plan_experiment(config)
        exp = find_experiment(store, plan.config_dict())
        if exp is None and queue:
            experiment_id = services.job_manager().submit(plan, name=f"explorer: {label}")
            exp = store.get_experiment(experiment_id)
            st.session_state[f"{key}-last"] = experiment_id
    except EmbedxferError as exc:
        show_error(exc)
        return None
    if exp is None:
        failed = st.session_state.get(f"{key}-last")
        if failed:
            _show_failure(failed)
        estimate = plan.total_seconds(1)
        when = f" (about {fmt_duration(estimate)} on this machine)" if estimate else ""
        st.info(f"The {label} is not computed yet{when}: press the button above to queue it.")
        return None
    if exp["status"] == "completed":
        st.caption(f"From experiment {exp['experiment_id']} (also on the Runs page and the Board).")
        return data_for(exp)
    _wait(exp["experiment_id"], label)
    return None


def _show_failure(experiment_id: str) -> None:
    store = services.store()
    try:
        trials = store.list_trials(experiment_id)
    except EmbedxferError:
        return
    errors = [t["error"] for t in trials if t.get("error")]
    if errors:
        st.error(errors[0])
        st.page_link(PAGE_RUNS, label="Open the run", query_params={"experiment": experiment_id})


@st.fragment(run_every=1.0)
def _wait(experiment_id: str, label: str) -> None:
    store = services.store()
    exp = store.get_experiment(experiment_id)
    if exp["status"] not in ACTIVE:
        st.rerun(scope="app")
    progress = services.job_manager().progress(experiment_id)
    done = sum(p["status"] not in ACTIVE for p in progress.values())
    phases = [p.get("phase") for p in progress.values() if p["status"] == "running" and p.get("phase")]
    text = f"Computing the {label}: {done} of {len(progress)} done" + (f" · {phases[0]}" if phases else "")
    st.progress(done / max(1, len(progress)), text=text)
    st.caption(f"Queued as experiment {experiment_id}; it keeps running if you leave this page.")


@st.cache_resource(show_spinner="Reading the token table…", max_entries=6)
def token_table(checkpoint: str) -> Any:
    from embedxfer.analysis.vocab import token_table as read

    return read(checkpoint)


@st.cache_data(show_spinner=False, max_entries=8)
def valence(surfaces: tuple[str, ...]) -> Any:
    from embedxfer.analysis.colors import vader_valence

    return vader_valence(list(surfaces))


@st.cache_data(show_spinner="Counting tokens in the task…", max_entries=8)
def frequency(checkpoint: str, task: str, rows: int) -> Any:
    from embedxfer.analysis.colors import token_frequency

    return token_frequency(checkpoint, task, rows)
