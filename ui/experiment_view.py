"""One experiment on the runs page: actions, live progress, summary with 95% intervals, figures, downloads.

Everything shown comes from the store and the job manager, never from session state, so a refresh or
a second tab shows the same live state. While trials are queued or running, the progress block is a
fragment that refreshes itself every couple of seconds; when the last trial ends it reruns the page
once to show the final results.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd
import streamlit as st

from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.trials import RESUMABLE_STATUSES as RESUMABLE
from ui.common import (
    ACTIVE,
    PAGE_BOARD,
    PAGE_NEW,
    checkpoints_and_tasks,
    counted,
    fmt_time,
    show_error,
    show_text_block,
    status_md,
    status_text,
)
from ui.results import render_results

LIVE_SECONDS = 2.0


def render_experiment(jm: Any, experiment_id: str) -> None:
    store = jm.store
    exp = store.get_experiment(experiment_id)
    config = exp["config"]
    st.title(exp["name"] or experiment_id)
    st.caption(
        f"`{experiment_id}` · {exp['kind']} · {checkpoints_and_tasks(config, short=False)} · "
        f"{status_md(exp['status'])} · {counted(exp['n_trials'], 'trial')} · created {fmt_time(exp['created_at'])}"
    )
    _notes(config)
    _actions(jm, exp)
    if exp["status"] in ACTIVE:
        st.fragment(run_every=LIVE_SECONDS)(_live_progress)(jm, experiment_id)
    else:
        _progress_block(jm, experiment_id)
    render_results(store, exp)
    _events_and_config(store, exp)


def _notes(config: dict[str, Any]) -> None:
    """The kind's notes on this config (what each baseline rules out, what is not comparable)."""
    from embedxfer.experiments import plan_notes

    lines = plan_notes(config)
    if lines:
        with st.expander("How to read these conditions", expanded=False):
            st.markdown("\n".join(f"- {line}" for line in lines))


# --- actions ---------------------------------------------------------------------------------------------------------


def _actions(jm: Any, exp: dict[str, Any]) -> None:
    experiment_id, counts = exp["experiment_id"], exp["counts"]
    active = exp["status"] in ACTIVE
    resumable = sum(counts.get(status, 0) for status in RESUMABLE)
    cols = st.columns(5)
    if cols[0].button("Cancel", key="runs-cancel", disabled=not active, icon=":material/stop:"):
        n = jm.cancel(experiment_id=experiment_id)
        st.toast(f"Cancelling {counted(n, 'trial')}; running ones stop at their next step.")
        st.rerun()
    if cols[1].button(
        f"Resume ({resumable})",
        key="runs-resume",
        disabled=active or not resumable,
        icon=":material/replay:",
        help="Run again the trials that did not complete (interrupted, cancelled, failed, diverged).",
    ):
        try:
            n = jm.resume(experiment_id)
        except EmbedxferError as exc:
            show_error(exc)
        else:
            st.toast(f"Queued {counted(n, 'trial')} again.")
            st.rerun()
    new_id = None
    if cols[2].button("Re-run", key="runs-rerun", icon=":material/content_copy:", help="A new experiment, same config"):
        try:
            new_id = jm.submit(exp["config"], name=exp["name"] or None)
        except Exception as exc:  # noqa: BLE001 - e.g. a checkpoint folder that is gone by now
            show_error(exc)
    if new_id:
        st.query_params["experiment"] = new_id
        st.rerun()
    if cols[3].button("Edit & re-run", key="runs-edit", icon=":material/edit:"):
        st.switch_page(PAGE_NEW, query_params={"from": experiment_id})
    if cols[4].button("Delete", key="runs-delete", icon=":material/delete:"):
        _confirm_delete(jm, experiment_id, active)


@st.dialog("Delete this experiment?")
def _confirm_delete(jm: Any, experiment_id: str, active: bool) -> None:
    st.write(f"Experiment `{experiment_id}`, its trials, metrics and artifacts are removed from the store.")
    if active:
        st.warning("It is still running: its trials are cancelled first.")
    if st.button("Delete for good", key="runs-delete-confirm", type="primary"):
        try:
            with st.spinner("Stopping its trials and deleting…"):
                jm.delete(experiment_id, timeout=20.0)
        except EmbedxferError as exc:
            show_error(exc)
            return
        st.query_params.pop("experiment", None)
        st.rerun()


# --- progress --------------------------------------------------------------------------------------------------------


def _backend_text(p: dict[str, Any]) -> str:
    """thread, ray, or ray @ the node running it now."""
    backend = p.get("backend") or ""
    return f"{backend} @ {p['node']}" if backend == "ray" and p.get("node") and p["status"] == "running" else backend


def _progress_frame(progress: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for trial_id, p in progress.items():
        total, step = p.get("total"), p.get("step") or 0
        done = p["status"] == "completed"
        fraction = 1.0 if done else (min(step / total, 1.0) if total else 0.0)
        rows.append(
            {
                "trial": trial_id.rsplit("-", 1)[-1],
                "condition": p["condition"],
                "seed": p["seed"],
                "status": status_text(p["status"]),
                "progress": fraction,
                "step": f"{step}/{total}" if total else str(step),
                "loss": p.get("loss"),
                "phase": p.get("phase", ""),
                "device": p.get("device") or "",
                "backend": _backend_text(p),
                "reused from": p.get("reused_from") or "",
                "error": (p.get("error") or "").split("\n", 1)[0],
            }
        )
    frame = pd.DataFrame(rows)
    if not any(p.get("backend") == "ray" for p in progress.values()):
        frame = frame.drop(columns=["backend"])  # a plain thread run looks as it always did
    # live-only or empty columns (loss, phase, error of a clean finished run) would only show blanks
    empty = [c for c in ("loss", "phase", "device", "error") if c in frame and frame[c].isna().all()]
    blank = ("phase", "device", "error", "reused from")
    empty += [c for c in blank if c in frame and c not in empty and (frame[c] == "").all()]
    return frame.drop(columns=empty)


def _progress_block(jm: Any, experiment_id: str) -> None:
    progress = jm.progress(experiment_id)
    frame = _progress_frame(progress)
    if frame.empty:
        st.info("This experiment has no trials.")
        return
    ended = Counter(p["status"] for p in progress.values() if p["status"] not in ACTIVE)
    finished = sum(ended.values())
    text = f"{finished} of {len(progress)} trials finished"
    # a full bar alone reads as success: say how many ended without completing (cancelled, failed, ...)
    unsuccessful = [f"{n} {status}" for status, n in sorted(ended.items()) if status != "completed"]
    if unsuccessful:
        text += f" ({', '.join(unsuccessful)})"
    st.progress(finished / len(progress), text=text)
    reused = sum(1 for p in progress.values() if p.get("reused_from"))
    if reused:
        st.caption(
            f"{counted(reused, 'trial')} reused from earlier experiments (same trial, same settings it read, same "
            "weights and data); the trial table names the trial that ran. Launch with Fresh ticked to run them again."
        )
    if finished == len(progress) and not unsuccessful:
        # every trial completed: the table would only repeat 100% rows (each trial's metrics are under Results),
        # and one grid fewer keeps the page quick to open
        return
    config = {
        # fixed widths: the live fragment redraws this table with longer values ("completed", "200/200") than
        # the first draw, and auto-sized columns would keep their first widths and cut them off
        "status": st.column_config.TextColumn("status", width=100),
        "step": st.column_config.TextColumn("step", width=110),
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "loss": st.column_config.NumberColumn("loss", format="%.4f"),
        "error": st.column_config.TextColumn("error", width="large"),
    }
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


def _live_progress(jm: Any, experiment_id: str) -> None:
    store = jm.store
    try:
        exp = store.get_experiment(experiment_id)
    except StoreError:
        st.info("This experiment was deleted.")
        return
    st.subheader("Progress")
    _progress_block(jm, experiment_id)
    steps = store.experiment_step_metrics(experiment_id)
    if steps.empty:
        st.info("Curves appear here once the first training steps are logged (loading the model comes first).")
    else:
        from embedxfer.plots import plot_training_curves

        names = list(dict.fromkeys(steps["name"]))
        val = [n for n in names if n.startswith("val_") and n != "val_loss"]
        left, right = st.columns(2)
        left.plotly_chart(plot_training_curves(steps, "train_loss", title="Training loss (live)"), key="runs-live-loss")
        if val:
            right.plotly_chart(plot_training_curves(steps, val[0], title=f"{val[0]} (live)"), key="runs-live-val")
        else:
            right.info("Validation scores appear after the first evaluation (set eval_every for curves).")
    if exp["status"] not in ACTIVE:
        st.rerun(scope="app")  # the last trial ended: show the final results


# --- events and config -----------------------------------------------------------------------------------------------


def _events_and_config(store: Any, exp: dict[str, Any]) -> None:
    with st.expander("Config"):
        show_text_block(json.dumps(exp["config"], indent=2))
    events = store.events(exp["experiment_id"], limit=100)
    with st.expander(f"Events ({len(events)})"):
        if not events:
            st.caption("No events recorded.")
        for event in reversed(events):
            first, _, rest = event["message"].partition("\n")
            line = f"`{fmt_time(event['time'])}` {first}"
            {"error": st.error, "warning": st.warning}.get(event["level"], st.caption)(line)
            if rest:
                show_text_block(rest)
    st.page_link(PAGE_BOARD, label="Open the board", icon=":material/dashboard:")
