"""The sidebar under the page navigation: compute device, the trial queue (live) and the store location."""

from __future__ import annotations

import streamlit as st

from ui import services
from ui.common import PAGE_RUNS, fmt_bytes, show_error


def _device_lines() -> list[str]:
    facts = services.device_facts()
    if not facts["cuda"]:
        return [f"CPU ({facts['threads']} threads)"]
    lines = []
    for device in facts["devices"]:
        used = services.gpu_memory_in_use(device["index"])
        lines.append(
            f"cuda:{device['index']} {device['name']} · {fmt_bytes(used)} / {fmt_bytes(device['total'])} in use"
        )
    return lines


def _ray_caption(facts: dict) -> str:
    resources = f"{facts['nodes']} node(s), {facts['cpus']:g} CPUs, {facts['gpus']:g} GPUs"
    per_trial = f"{facts['cpus_per_trial']:g} CPU, {facts['gpus_per_trial']:g} GPU per trial"
    return f"Backend: Ray, {facts['where']} · {resources} · {per_trial}"


@st.fragment(run_every=5)
def _queue() -> None:
    # a fragment: refreshes on its own every few seconds without rerunning the page
    try:
        active = services.job_manager().active()
    except Exception as exc:  # noqa: BLE001 - the sidebar must never take the page down
        show_error(exc)
        return
    st.markdown(
        f"**Queue** (trials)  \n:material/play_circle: {active['running']} running · :material/schedule: "
        f"{active['queued']} queued · :material/check_circle: {active['finished_today']} finished today"
    )
    ray = active["backend"]["backend"] == "ray"
    if ray:
        st.caption(_ray_caption(active["backend"]))
    for worker in (w for w in active["workers"] if w["trial_id"]):
        st.caption(f"{worker['device']}: {worker['trial_id']}" + (f" ({worker['name']})" if ray else ""))
    if not active["workers"] and not ray:  # Ray's workers come and go with trials: none is not a problem there
        st.caption("No worker threads in this process (EMBEDXFER_WORKERS); runs wait for another process.")
    elif active["running"] or active["queued"]:
        st.page_link(PAGE_RUNS, label="Open runs", icon=":material/monitoring:")


def render_sidebar() -> None:
    with st.sidebar:
        st.markdown("**Device**")
        try:
            for line in _device_lines():
                st.caption(line)
        except Exception as exc:  # noqa: BLE001
            st.caption(f"Device unknown ({type(exc).__name__}).")
        _queue()
        try:
            root = services.store().root
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
        else:
            st.caption(f"Store: `{root}`")
