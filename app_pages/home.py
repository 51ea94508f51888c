"""Home: what embedxfer answers, one-click starting points per experiment family, the latest experiments."""

import streamlit as st

from embedxfer.experiments import list_kinds
from ui import services
from ui.common import (
    PAGE_CHECKPOINTS,
    PAGE_DATA,
    PAGE_NEW,
    PAGE_RUNS,
    checkpoints_and_tasks,
    counted,
    fmt_ago,
    show_error,
    status_md,
)

# (kind or analysis, title, question, source) in the order a newcomer meets them (DESIGN.md)
FAMILIES = (
    ("finetune", "Finetune with frozen parts",
     "How well does a checkpoint do on a task when some of its parts stay frozen?", "baseline for every family"),
    ("embedding_transfer", "Embedding transfer",
     "Does a frozen embedding layer from model A help a different, newly trained model?",
     "r/MachineLearning 'Transferring Pretrained Embeddings' (2025)"),
    ("frozen_transformer", "Frozen transformer (FPT)",
     "Can a language-pretrained transformer with frozen blocks solve non-language tasks?",
     "Lu et al., arXiv 2103.05247"),
    ("layer_reinit", "Layer reinitialization + probing",
     "Which pretrained layers matter for a task, and does it depend on the amount of data?",
     "Tamkin et al., arXiv 2004.14975"),
    ("module_porting", "Module porting",
     "Does a PEFT module trained on host A still work when ported to host B?",
     "Sabry & Belz, arXiv 2401.14228"),
    ("embedding_explorer", "Embedding explorer",
     "What do token-embedding matrices look like, and how similar are two checkpoints?", "no training needed"),
)  # fmt: skip

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
built = {kind.name for kind in list_kinds()}
cards = st.columns(3)
for i, (kind, title, question, source) in enumerate(FAMILIES):
    with cards[i % 3].container(border=True):
        st.markdown(f"**{title}**")
        st.caption(f"{question}  \n_{source}_")
        if kind in built:
            st.page_link(PAGE_NEW, label=f"Start {kind}", icon=":material/play_arrow:", query_params={"kind": kind})
        else:
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
