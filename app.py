"""embedxfer dashboard entry point: `streamlit run app.py`.

A minimal shell for now: it shows the bundled checkpoints and tasks. The full router with
sections, pages and background runs is built on top of this.
"""

import streamlit as st

from embedxfer.checkpoints import list_checkpoints
from embedxfer.tasks import list_tasks

st.set_page_config(page_title="embedxfer", layout="wide")
st.title("embedxfer")
st.caption("Which parts of a pretrained model carry over to another model or task?")

st.subheader("Checkpoints available offline")
st.dataframe([entry.__dict__ for entry in list_checkpoints()], hide_index=True)

st.subheader("Tasks")
st.dataframe(
    [{"name": t.name, "modality": t.modality, "labels": t.label_kind, "metric": t.metric, "about": t.description}
     for t in list_tasks()],
    hide_index=True,
)  # fmt: skip
