"""Home: what embedxfer answers, one-click starting points per experiment family, the latest experiments."""

import streamlit as st

from embedxfer.experiments import list_kinds, planned_kinds
from ui import services
from ui.common import (
    PAGE_CHECKPOINTS,
    PAGE_DATA,
    PAGE_EXPLORE,
    PAGE_NEW,
    PAGE_RUNS,
    checkpoints_and_tasks,
    counted,
    fmt_ago,
    show_error,
    status_md,
)

st.title("embedxfer")
st.markdown(
    "**Which parts of a pretrained model carry over, and where?** Pick checkpoints and a task, launch short "
    "training runs that keep going in the background, and compare conditions with 95% intervals over seeds. "
    "The same experiments run from the CLI (`embedxfer run config.yaml`) and show up here."
)
links = st.columns(3)
links[0].page_link(PAGE_CHECKPOINTS, label="Browse checkpoints", icon=":material/memory:")
links[1].page_link(PAGE_DATA, label="Browse tasks or upload data", icon=":material/table:")
links[2].page_link(PAGE_RUNS, label="All runs", icon=":material/monitoring:")

st.subheader("Start an experiment")
# every registered kind has a card (from its package), then the families still planned
cards = st.columns(3)
kinds = list_kinds()
for i, kind in enumerate(kinds):
    with cards[i % 3].container(border=True):
        st.markdown(f"**{kind.card.title}**")
        st.caption(f"{kind.card.question}  \n_{kind.card.reference}_")
        start = {"kind": kind.name, **({"preset": kind.card.quick_preset} if kind.card.quick_preset else {})}
        if kind.card.page == "explore":
            st.page_link(PAGE_EXPLORE, label="Open the explorer", icon=":material/scatter_plot:")
        st.page_link(PAGE_NEW, label=f"Start {kind.name}", icon=":material/play_arrow:", query_params=start)
for i, planned in enumerate(planned_kinds(), start=len(kinds)):
    with cards[i % 3].container(border=True):
        st.markdown(f"**{planned.card.title}**")
        st.caption(f"{planned.card.question}  \n_{planned.card.reference}_")
        st.caption(":material/construction: Not built yet in this version.")

st.subheader("Latest experiments")
try:
    latest = services.store().list_experiments(limit=8)
except Exception as exc:  # noqa: BLE001 - an unreadable store is reported, the page still renders
    show_error(exc)
    latest = []
if not latest:
    st.info(
        "No experiments yet. Start a finetune run above (a tiny one takes a minute on CPU), "
        "or run `embedxfer run config.yaml` in a terminal: it lands in the same store."
    )
for exp in latest:
    label = f"{status_md(exp['status'])} · {exp['kind']} · {exp['name'] or exp['experiment_id']}"
    row = st.columns([4, 3, 2])
    row[0].page_link(PAGE_RUNS, label=label, query_params={"experiment": exp["experiment_id"]})
    row[1].caption(checkpoints_and_tasks(exp["config"]))
    row[2].caption(f"{counted(exp['n_trials'], 'trial')} · {fmt_ago(exp['created_at'])}")
