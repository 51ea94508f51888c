"""Checkpoints: the catalog with architecture facts, adding a folder or hub id, pair compatibility and
parameters per part."""

import pandas as pd
import plotly.express as px
import streamlit as st

from embedxfer import paths, workspace
from embedxfer.checkpoints import arch_info, list_checkpoints
from embedxfer.compat import compat_matrix
from embedxfer.errors import EmbedxferError
from embedxfer.experiments.serves import kind_support, served_kinds
from ui import services
from ui.common import fmt_count, short_checkpoint, show_error

INFO_COLUMNS = ("family", "num_layers", "hidden_size", "num_heads", "ffn_size", "vocab_size", "tokenizer_kind", "cased")


def catalog_rows(ids: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    """One row per checkpoint with its ArchInfo, or the reason it cannot be used; and the ids still being read
    in the background (their rows say so), so the first render never waits for a slow config."""
    bundled = {entry.id: entry for entry in list_checkpoints()}
    warmer = services.arch_warmer()
    rows, pending = [], []
    for checkpoint_id in ids:
        entry = bundled.get(checkpoint_id)
        row = {"id": checkpoint_id, "origin": "bundled" if entry else "added", "status": "ok"}
        if entry is not None and not entry.available:
            rows.append({**row, "status": "unavailable", "note": entry.reason, "source": entry.source})
            continue
        info = warmer.result(checkpoint_id)
        if info is None:
            pending.append(checkpoint_id)
            rows.append({**row, "status": "reading…", "note": "reading its config and weight headers (first look)"})
        elif isinstance(info, EmbedxferError):
            rows.append({**row, "status": "error", "note": str(info)})
        else:
            facts = {k: getattr(info, k) for k in INFO_COLUMNS}
            parameters = fmt_count(info.num_parameters)
            support = kind_support(info)
            runs = ", ".join(served_kinds(support))
            refused = {name: why for name, why in support.items() if why}
            extra = {"parameters": parameters, "kinds": runs, "refused": refused, "source": info.source, "note": ""}
            rows.append({**row, **facts, **extra})
    if pending:
        warmer.request(pending)
    return rows, pending


@st.cache_data(max_entries=8, show_spinner="Loading the checkpoint to count its parameters…")
def parameter_counts(checkpoint_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from embedxfer.overviews import checkpoint_parameter_counts

    return checkpoint_parameter_counts(checkpoint_id)


def catalog_table(rows: list[dict]) -> None:
    # architecture first, under short headers, so the whole row fits beside a long folder id (which is cut to a
    # medium width; hovering shows it in full)
    short_headers = {
        "num_layers": "layers",
        "hidden_size": "width",
        "num_heads": "heads",
        "ffn_size": "ffn",
        "vocab_size": "vocab",
        "tokenizer_kind": "tokenizer",
    }
    columns = [*INFO_COLUMNS, "parameters", "kinds", "origin", "status", "source", "note"]
    frame = pd.DataFrame(rows).drop(columns="refused", errors="ignore").set_index("id")
    st.dataframe(
        frame,
        width="stretch",
        column_order=[c for c in columns if c in frame.columns],
        column_config={
            "_index": st.column_config.TextColumn("id", width="medium"),
            "note": st.column_config.TextColumn("note", width="large"),
            "kinds": st.column_config.TextColumn("runs", width="medium", help="the experiment kinds it can run"),
            **{name: st.column_config.Column(header) for name, header in short_headers.items()},
        },
    )


def catalog_section(ids: tuple[str, ...], rows: list[dict], pending: list[str], extra_ids: list[str]) -> None:
    if pending:
        # redraw on its own until the background reader has them (seconds, once per install)
        st.fragment(run_every=1.0)(_pending_table)(ids)
    else:
        catalog_table(rows)
        refusals = [(row["id"], why) for row in rows for why in (row.get("refused") or {}).values()]
        if refusals:
            with st.expander(f"Kinds some checkpoints cannot run ({len(refusals)})"):
                st.markdown("\n".join(f"- **{checkpoint}**: {why}" for checkpoint, why in refusals))
    st.caption(
        "Bundled checkpoints come inside pip packages and work offline. Added ones are local Hugging Face "
        "folders or `hub:org/name` ids (a hub id needs a network connection the first time)."
    )
    with st.expander("Add a checkpoint", expanded=not extra_ids):
        add_checkpoint_form(extra_ids)


def add_checkpoint_form(extra_ids: list[str]) -> None:
    st.markdown("A local folder holding `config.json`, weights and tokenizer files, or `hub:org/name`.")
    new_id = st.text_input(
        "Folder path or hub id", key="ckpt-add-id", placeholder="/data/models/my-bert  or  hub:org/name"
    )
    if st.button("Add checkpoint", key="ckpt-add", disabled=not new_id.strip()):
        text = new_id.strip()
        try:
            if not text.startswith("hub:"):
                paths.check_user_path(text)  # outside the allowed folders or missing: say so before reading it
            with st.spinner("Reading its config…"):
                info = workspace.add_checkpoint(text)
        except EmbedxferError as exc:
            show_error(exc)
        else:
            services.clear_catalog_caches()
            st.toast(
                f"Added `{info.id}`: {info.family}, {info.num_layers} layers, width {info.hidden_size}, "
                f"vocab {info.vocab_size}, {fmt_count(info.num_parameters)} parameters."
            )
            st.rerun()
    removable = [c for c in extra_ids if c not in workspace.env_checkpoints()]
    if removable:
        col = st.columns([3, 1], vertical_alignment="bottom")
        gone = col[0].selectbox("Forget an added checkpoint", removable, key="ckpt-remove-id")
        if col[1].button("Forget", key="ckpt-remove"):
            workspace.remove_checkpoint(gone)
            services.clear_catalog_caches()
            st.rerun()


def _pending_table(ids: tuple[str, ...]) -> None:
    rows, pending = catalog_rows(ids)
    catalog_table(rows)
    if not pending:
        st.rerun(scope="app")  # all read: the other tabs can offer them now


def compat_section(usable: list[str]) -> None:
    st.caption(
        "Same vocabulary (size, tokenizer kind, casing), same width and same depth decide which experiments can "
        "combine or compare two checkpoints. Read from config files only."
    )
    chosen = st.multiselect("Checkpoints to compare", usable, default=usable[:6], key="ckpt-compat")
    if len(chosen) < 2:
        st.info("Pick at least two usable checkpoints to see how they relate.")
        return
    pairs = compat_matrix([arch_info(c) for c in chosen])
    # folder ids are long paths: headers show their last part unless two folders share it
    short = {c: short_checkpoint(c) for c in chosen}
    if len(set(short.values())) < len(short):
        short = {c: c for c in chosen}
    mark = {True: "✓", False: "✗"}
    matrix = pd.DataFrame("—", index=list(short.values()), columns=list(short.values()))
    for pair in pairs:
        cell = f"vocab {mark[pair.same_vocab]} · width {mark[pair.same_width]} · depth {mark[pair.same_depth]}"
        matrix.loc[short[pair.a], short[pair.b]] = matrix.loc[short[pair.b], short[pair.a]] = cell
    st.dataframe(matrix, width="stretch")
    detail = [
        {"pair": f"{short[p.a]} ↔ {short[p.b]}", **{name: s.short() for name, s in p.support.items()}} for p in pairs
    ]
    st.dataframe(pd.DataFrame(detail).set_index("pair"), width="stretch")
    st.caption("“with …” means the experiment works after the stated control (e.g. PCA to a common width).")


def params_section(usable: list[str]) -> None:
    if not usable:
        st.info("No usable checkpoint yet: install a bundled package or add a folder in the catalog.")
        return
    cols = st.columns([3, 1], vertical_alignment="bottom")
    target = cols[0].selectbox("Checkpoint", usable, key="ckpt-params-id")
    if cols[1].button("Count parameters", key="ckpt-params"):
        st.session_state["ckpt-params-shown"] = target
    if st.session_state.get("ckpt-params-shown") != target:
        st.caption("Counting loads the weights once (bundled ONNX/GGUF checkpoints are converted and cached first).")
        return
    try:
        parts, groups = parameter_counts(target)
    except EmbedxferError as exc:
        show_error(exc)
        return
    left, right = st.columns(2)
    fig = px.bar(groups, x="group", y="parameters", title=f"{target}: parameters per group", text_auto=".3s")
    left.plotly_chart(fig, key="ckpt-params-groups")
    share = st.column_config.ProgressColumn("share", format="percent", min_value=0, max_value=1)
    right.dataframe(parts, hide_index=True, height=420, column_config={"share": share})


st.title("Checkpoints")
bundled_ids = [entry.id for entry in list_checkpoints()]
try:
    extra_ids = workspace.registered_checkpoints()
except EmbedxferError as exc:
    show_error(exc)
    extra_ids = []
all_ids = tuple(dict.fromkeys(bundled_ids + extra_ids))
rows, pending = catalog_rows(all_ids)
usable = [row["id"] for row in rows if row["status"] == "ok"]

# Lazy tabs: only the open section runs and is sent, so the page opens with one table instead of four tables,
# a multiselect and a chart (each kind of element costs the browser time on every full page load).
catalog_tab, compat_tab, params_tab = st.tabs(
    ["Catalog", "Compatibility between checkpoints", "Parameters per part"], key="ckpt-tabs", on_change="rerun"
)
if catalog_tab.open:
    with catalog_tab:
        catalog_section(all_ids, rows, pending, extra_ids)
if compat_tab.open:
    with compat_tab:
        compat_section(usable)
if params_tab.open:
    with params_tab:
        params_section(usable)
