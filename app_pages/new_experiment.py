"""New experiment: a form generated from the kind's config dataclass, a plan (trials, rough time), launch.

URL: ``?kind=<kind>`` picks the kind; ``?from=<experiment id>`` pre-fills the form with that experiment's
config (re-run with edits). Launching submits to the job manager and opens the run.
"""

import json

import streamlit as st
import yaml

from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.experiments import config_to_dict, get_kind, list_kinds, parse_config
from embedxfer.experiments.config import parse_config_text
from ui import services
from ui.common import PAGE_RUNS, fmt_duration, show_error, show_text_block
from ui.forms import ConfigForm

PLANNED = ("embedding_transfer", "frozen_transformer", "layer_reinit", "probing", "module_porting")


@st.cache_data(ttl=120, max_entries=32, show_spinner="Checking checkpoint, task and parts…")
def plan(config_json: str) -> dict:
    """Expand the config (this validates checkpoint, task and part names) and estimate its time."""
    config = parse_config(json.loads(config_json))
    kind = get_kind(config.kind)
    specs = kind.expand(config)
    per_trial = kind.estimate_seconds(config) if kind.estimate_seconds else None
    conditions = list(dict.fromkeys(spec.condition for spec in specs))
    return {"trials": len(specs), "conditions": conditions, "seconds_per_trial": per_trial}


def apply_yaml() -> None:
    """Button callback: replace the form's values with a pasted YAML config (runs before widgets exist)."""
    text = st.session_state.get("new-yaml", "")
    try:
        config = parse_config(parse_config_text(text, source="The pasted config"))
    except EmbedxferError as exc:
        st.session_state["new-yaml-error"] = str(exc)
        return
    st.session_state["new-yaml-error"] = ""
    st.session_state["new-yaml-values"] = config_to_dict(config)
    st.session_state["new-kind"] = config.kind


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
    # the URL decides the kind when it changes (links from Home); afterwards the selectbox does
    url_kind = st.query_params.get("kind")
    if url_kind and url_kind != st.session_state.get("new-kind-url"):
        if url_kind in kinds:
            st.session_state["new-kind"] = url_kind
        else:
            st.warning(f"Experiment kind {url_kind!r} is not built in this version yet.")
    if st.session_state.get("new-kind") not in kinds:
        st.session_state["new-kind"] = "finetune" if "finetune" in kinds else next(iter(kinds))
    kind_name = st.selectbox("Kind", list(kinds), key="new-kind", format_func=lambda k: f"{k} — {kinds[k].description}")
    st.query_params["kind"] = st.session_state["new-kind-url"] = kind_name
    not_built = [k for k in PLANNED if k not in kinds]
    if not_built:
        st.caption(f"Not built yet: {', '.join(not_built)}.")

kind = kinds[kind_name]
form = ConfigForm(kind, prefix=f"new-{kind.name}")
pasted = st.session_state.pop("new-yaml-values", None)
source = f"{kind.name}|{from_id or ''}"
fresh = st.session_state.get("new-source") != source
if pasted is not None and pasted.get("kind") == kind.name:
    form.init_state(pasted, overwrite=True)
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
        config = parse_config(values)
        planned = plan(json.dumps(config_to_dict(config), sort_keys=True, default=str))
    except Exception as exc:  # noqa: BLE001 - bad input is shown, never a traceback
        show_error(exc)
if planned:
    workers = max(1, len(jm.active()["workers"]))
    per = planned["seconds_per_trial"]
    total = per * planned["trials"] / workers if per is not None else None
    cols = st.columns(3)
    cols[0].metric("Trials", planned["trials"], help="conditions × seeds (× the kind's sweep)")
    cols[1].metric("Per trial (rough, CPU)", fmt_duration(per))
    cols[2].metric("In total", fmt_duration(total), help=f"with {workers} worker(s) in this process")
    st.caption(f"Conditions: {', '.join(planned['conditions'])}")

launch = st.button("Launch", key="new-launch", type="primary", disabled=planned is None)
if launch:
    experiment_id = None
    try:
        experiment_id = jm.submit(values, name=name.strip() or None)
    except Exception as exc:  # noqa: BLE001
        show_error(exc)
    if experiment_id:
        # outside the try: switch_page stops this script run by raising Streamlit's own control exception
        st.switch_page(PAGE_RUNS, query_params={"experiment": experiment_id})
