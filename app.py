"""embedxfer dashboard entry point: `streamlit run app.py` (or `make app`).

A router only: it declares the pages by section, draws the sidebar (device, queue, store) and runs
the selected page. No computation happens here; pages submit configs to the job manager
(`ui.services`) and read results from the store.

Pages live in `app_pages/`, not `pages/`: Streamlit treats a folder called `pages/` next to the entry
script as an old-style multipage app and may run a page without this router (no sidebar, no page config)
on a session's first request, and AppTest always does.

Environment: EMBEDXFER_HOME (store folder), EMBEDXFER_WORKERS (e.g. "cpu=1"),
EMBEDXFER_EXTRA_CHECKPOINTS (os.pathsep-separated folders or hub ids offered next to the bundled ones).
"""

import streamlit as st

from ui import services
from ui.common import PAGE_BOARD, PAGE_CHECKPOINTS, PAGE_DATA, PAGE_EXPLORE, PAGE_HOME, PAGE_NEW, PAGE_RUNS
from ui.sidebar import render_sidebar

st.set_page_config(page_title="embedxfer", page_icon=":material/swap_horiz:", layout="wide")

PAGES = {
    "Explore": [
        st.Page(PAGE_HOME, title="Home", icon=":material/home:", default=True),
        st.Page(PAGE_CHECKPOINTS, title="Checkpoints", icon=":material/memory:", url_path="checkpoints"),
        st.Page(PAGE_DATA, title="Tasks & data", icon=":material/table:", url_path="data"),
        st.Page(PAGE_EXPLORE, title="Embedding explorer", icon=":material/scatter_plot:", url_path="explore"),
    ],
    "Experiments": [
        st.Page(PAGE_NEW, title="New experiment", icon=":material/science:", url_path="new"),
        st.Page(PAGE_RUNS, title="Runs", icon=":material/monitoring:", url_path="runs"),
    ],
    "Results": [
        st.Page(PAGE_BOARD, title="Board", icon=":material/dashboard:", url_path="board"),
    ],
}

page = st.navigation(PAGES)
render_sidebar()
services.warm_catalog()  # once per process it starts reading checkpoint configs in the background; then a no-op
page.run()
