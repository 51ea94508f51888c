"""New experiment: a form generated from the kind's config dataclass, presets that fill it, a plan (trials, how many
a finished trial already answers, the estimated time of the rest), launch.

URL: ``?kind=<kind>`` picks the kind; ``?preset=<name>`` fills the form from a preset (Home's cards link here
with the kind's quick preset); ``?from=<experiment id>`` pre-fills the form with that experiment's config
(re-run with edits). The config is parsed once per script run and expanded once per distinct config (the plan
is kept in the session); Launch submits that same plan and opens the run.
"""

import json

import streamlit as st
import yaml

from embedxfer.cli_output import fmt_duration
from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.experiments import (
    config_to_dict,
    get_preset,
    list_kinds,
    list_presets,
    parse_config,
    parse_config_text,
    plan_experiment,
    planned_kinds,
)
from embedxfer.planning.preview import preview_plan
from ui import services
from ui.common import PAGE_RUNS, show_error, show_text_block
from ui.forms import ConfigForm

DEFAULTS = "(the kind's defaults)"


def fill_from(config: dict) -> None:
    """Queue `config` to replace the form's values on this run (before the widgets exist)."""
    st.session_state["new-fill-values"] = config
    st.session_state["new-kind"] = config["kind"]


def apply_yaml() -> None:
    """Button callback: fill the form from a pasted YAML config."""
    text = st.session_state.get("new-yaml", "")
    try:
        config = parse_config(parse_config_text(text, source="The pasted config"))
    except EmbedxferError as exc:
        st.session_state["new-yaml-error"] = str(exc)
        return
    st.session_state["new-yaml-error"] = ""
    fill_from(config_to_dict(config))


def apply_preset() -> None:
    """Select-box callback: fill the form from the chosen preset."""
    name = st.session_state.get("new-preset")
    if name and name != DEFAULTS:
        fill_from(get_preset(name).config)


def current_plan(config):
    """The plan of `config`, expanded once per distinct config in this session (expanding checks checkpoint,
    task and parts, which reads files)."""
    key = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    cached = st.session_state.get("new-plan")
    if cached is None or cached[0] != key:
        with st.spinner("Checking checkpoint, task and parts…"):
            cached = (key, plan_experiment(config))
        st.session_state["new-plan"] = cached
    return cached[1]


jm = services.job_manager()
kinds = {kind.name: kind for kind in list_kinds()}
from_id = st.query_params.get("from")
prefill = None
if from_id:
    try:
        prefill = jm.store.get_experiment(jm.store.resolve_experiment_id(from_id))["config"]
    except StoreError as exc:
        show_error(exc)
        from_id = None

st.title("New experiment")
if from_id:
    kind_name = (prefill or {}).get("kind", "")
    if kind_name not in kinds:
        st.error(f"Experiment kind {kind_name!r} of {from_id} is not built in this version.")
        st.stop()
    st.info(f"Editing a copy of experiment `{from_id}`; launching creates a new experiment.")
    if st.button("Start from defaults instead", key="new-blank"):
        st.query_params.clear()
        st.query_params["kind"] = kind_name
        st.rerun()
else:
    # the URL decides the kind (and preset) when it changes (links from Home); afterwards the widgets do
    url_kind, url_preset = st.query_params.get("kind"), st.query_params.get("preset")
    url_key = f"{url_kind}|{url_preset}"
    if url_kind and url_key != st.session_state.get("new-url"):
        if url_kind in kinds:
            st.session_state["new-kind"] = url_kind
            if url_preset:
                try:
                    fill_from(get_preset(url_preset).config)
                    st.session_state["new-preset"] = url_preset
                except EmbedxferError as exc:
                    show_error(exc)
        else:
            st.warning(f"Experiment kind {url_kind!r} is not built in this version yet.")
    st.session_state["new-url"] = url_key
    if st.session_state.get("new-kind") not in kinds:
        st.session_state["new-kind"] = "finetune" if "finetune" in kinds else next(iter(kinds))
    kind_name = st.selectbox("Kind", list(kinds), key="new-kind", format_func=lambda k: f"{k} — {kinds[k].description}")
    st.query_params["kind"] = kind_name
    presets = {p.name: p for p in list_presets(kind_name)}
    if st.session_state.get("new-preset") not in (DEFAULTS, *presets):
        st.session_state["new-preset"] = DEFAULTS
    st.selectbox(
        "Start from a preset",
        [DEFAULTS, *presets],
        key="new-preset",
        on_change=apply_preset,
        format_func=lambda n: n if n == DEFAULTS else f"{n} — {presets[n].description}",
        help="A named, complete config shipped with the kind; choosing one fills the form below.",
    )
    not_built = [p.name for p in planned_kinds()]
    if not_built:
        st.caption(f"Not built yet: {', '.join(not_built)}.")

kind = kinds[kind_name]
form = ConfigForm(kind, prefix=f"new-{kind.name}")
filled = st.session_state.pop("new-fill-values", None)
source = f"{kind.name}|{from_id or ''}"
fresh = st.session_state.get("new-source") != source
if filled is not None and filled.get("kind") == kind.name:
    form.init_state(filled, overwrite=True)
else:
    form.init_state(prefill, overwrite=fresh)
st.session_state["new-source"] = source

with st.container(border=True):
    values, errors = form.render()
name = st.text_input("Experiment name (optional)", key="new-name", placeholder="e.g. freeze embeddings, 64 examples")

with st.expander("Config as YAML"):
    show_text_block(yaml.safe_dump(values, sort_keys=False))
    st.text_area("Paste a config to fill the form", key="new-yaml", height=120, placeholder="kind: finetune\n...")
    st.button("Fill the form", key="new-yaml-apply", on_click=apply_yaml)
    if st.session_state.get("new-yaml-error"):
        st.error(st.session_state["new-yaml-error"])

st.subheader("Plan")
planned = None
for message in errors:
    st.error(message)
if not errors:
    try:
        planned = current_plan(parse_config(values))
    except Exception as exc:  # noqa: BLE001 - bad input is shown, never a traceback
        show_error(exc)
fresh_run = st.checkbox(
    "Fresh: run every trial again",
    key="new-fresh",
    help="Off: a trial that already completed with the same settings it read, the same weights and the same data is "
    "reused (its results are copied, it does not run). On: every trial runs.",
)
if planned:
    shown = preview_plan(planned, jm.store, fresh=fresh_run, slots=jm.slots())
    cols = st.columns(4)
    cols[0].metric("Trials", len(planned.trials), help="conditions × seeds (× the kind's sweep)")
    cols[1].metric("Reused", shown.reused, help="completed trials with the same key; their results are copied")
    cols[2].metric("To run", shown.to_run)
    cols[3].metric(
        "Estimated time", fmt_duration(shown.seconds) if shown.to_run else "none", help=shown.estimate.source
    )
    st.caption(f"{shown.summary()} · conditions: {', '.join(planned.conditions)}")
    if planned.notes:
        st.info("\n".join(f"- {line}" for line in planned.notes))

launch = st.button("Launch", key="new-launch", type="primary", disabled=planned is None)
if launch:
    experiment_id = None
    try:
        experiment_id = jm.submit(planned, name=name.strip() or None, fresh=fresh_run)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
    if experiment_id:
        # outside the try: switch_page stops this script run by raising Streamlit's own control exception
        st.switch_page(PAGE_RUNS, query_params={"experiment": experiment_id})
