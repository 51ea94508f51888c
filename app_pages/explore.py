"""Explorer: token-embedding maps of one or two checkpoints side by side (colourings, token search with nearest
neighbours), similarity between checkpoints, and per-layer maps of a task. Every map is an experiment of an explorer
kind: a computed one opens at once, a new one is queued and appears when done."""

import numpy as np
import pandas as pd
import streamlit as st

from embedxfer.errors import EmbedxferError
from ui import services
from ui.common import show_error
from ui.explorer import frequency, obtain, token_table, valence

METHODS = ("umap", "pca", "tsne")
COLOURINGS = ("token kind", "VADER valence", "frequency in a task")

st.title("Embedding explorer")
st.caption(
    "Every vocabulary row, no sampling. Maps are cached: a map computed once (here or with `embedxfer run`) opens "
    "at once. Hover a point for its token; search a token to ring it in both maps and list its nearest neighbours."
)
checkpoints = services.checkpoint_ids()
tasks = services.task_names()
tabs = st.tabs(["Token maps", "Similarity", "Layer maps"], key="explore-tabs", on_change="rerun")
linked = st.query_params.get("map")  # a shared link to a computed map: /explore?map=<experiment id>
if linked and "explore-map-request" not in st.session_state:
    try:
        st.session_state["explore-map-request"] = services.store().get_experiment(linked)["config"]
    except EmbedxferError as exc:
        show_error(exc)


def _method_fields(prefix: str) -> dict:
    method = st.selectbox("Method", METHODS, key=f"{prefix}-method")
    with st.expander("Method parameters"):
        cols = st.columns(4)
        params = {
            "n_neighbors": cols[0].number_input("UMAP n_neighbors", 2, 200, 15, key=f"{prefix}-nn"),
            "min_dist": cols[1].number_input("UMAP min_dist", 0.0, 1.0, 0.1, key=f"{prefix}-md"),
            "metric": cols[2].selectbox("UMAP metric", ("euclidean", "cosine"), key=f"{prefix}-metric"),
            "perplexity": cols[3].number_input("t-SNE perplexity", 1.0, 500.0, 30.0, key=f"{prefix}-perp"),
            "seeds": [int(st.number_input("Seed", 0, 10_000, 0, key=f"{prefix}-seed"))],
        }
    return {"method": method, **params}


def _request(key: str, config: dict, submitted: bool) -> tuple[dict, bool]:
    """The config to show: the one just submitted (queued if new), else the last one asked for, else the default."""
    if submitted:
        st.session_state[key] = config
    return st.session_state.get(key, config), submitted


def _colouring(frames: list[tuple[str, pd.DataFrame]], how: str, task: str):
    if how == "VADER valence":
        return [valence(tuple(frame["surface"])) for _, frame in frames], "valence"
    if how == "frequency in a task":
        out = []
        for name, frame in frames:
            counts = frequency(name, task, int(frame["row"].max()) + 1)
            out.append(np.log10(1.0 + counts[frame["row"].to_numpy()]).astype(float))
        return [np.where(v > 0, v, np.nan) for v in out], f"log10 count in {task}"
    return None, ""


def _neighbours(names: list[str], query: str) -> str | None:
    """Neighbour tables side by side; the searched token's surface (what both maps ring), None when absent."""
    from embedxfer.analysis.neighbours import nearest, neighbour_overlap, not_found

    found, surface = [], None
    for name in names:
        table = token_table(name)
        try:
            found.append(nearest(table, query, k=10))
        except EmbedxferError:
            st.warning(str(not_found(table, query)))
    if not found:
        return None
    surface = token_table(found[0].checkpoint).surfaces[found[0].row]
    cols = st.columns(len(found))
    for col, hit in zip(cols, found, strict=True):
        col.markdown(f"**{hit.checkpoint}**: nearest to `{hit.query}` (cosine, full width)")
        col.dataframe(
            pd.DataFrame({"token": hit.tokens, "cosine": np.round(hit.similarities, 3)}), hide_index=True, height=388
        )
    if len(found) == 2:
        st.metric("Neighbour overlap (by token text)", f"{neighbour_overlap(found[0], found[1]):.0%}")
    return surface


def _downloads(prefix: str, frames: list[tuple[str, pd.DataFrame]], fig, file_stem: str) -> None:
    from embedxfer.results import export

    merged = frames[0][1][["surface", "token", "kind", "x", "y"]].rename(columns={"x": "x_0", "y": "y_0"})
    merged.insert(0, "checkpoint_0", frames[0][0])
    if len(frames) > 1:
        second = frames[1][1]
        merged["checkpoint_1"], merged["token_1"] = frames[1][0], second["token"].to_numpy()
        merged["x_1"], merged["y_1"] = second["x"].to_numpy(), second["y"].to_numpy()
    cols = st.columns([1, 1, 1, 2])
    cols[0].download_button(
        "Coordinates (CSV)",
        lambda: merged.to_csv(index=False),
        file_name=f"{file_stem}.csv",
        key=f"{prefix}-csv",
        on_click="ignore",
        mime="text/csv",
    )
    cols[1].download_button(
        "Figure (HTML)",
        lambda: fig.to_html(include_plotlyjs=True),
        file_name=f"{file_stem}.html",
        key=f"{prefix}-html",
        on_click="ignore",
        mime="text/html",
    )
    if cols[2].button("Render PNG", key=f"{prefix}-png"):
        try:
            with st.spinner("Rendering with Chromium…"):
                png = export.figure_png(fig, width=1400, height=620)
            cols[2].download_button(
                "Download PNG",
                png,
                file_name=f"{file_stem}.png",
                key=f"{prefix}-png-dl",
                on_click="ignore",
                mime="image/png",
            )
        except EmbedxferError as exc:
            st.info(f"No PNG: {exc}")


if tabs[0].open:
    with tabs[0]:
        from embedxfer.experiments.embedding_map import read_maps
        from embedxfer.map_plots import plot_token_maps

        with st.form("explore-map-form", border=False):
            default = [c for c in ("minilm-l6", "minilm-l3") if c in checkpoints] or checkpoints[:1]
            chosen = st.multiselect("Checkpoints (one, or two side by side)", checkpoints, default, max_selections=2)
            fields = _method_fields("explore-map")
            submitted = st.form_submit_button("Show map", icon=":material/scatter_plot:")
        config, queue = _request(
            "explore-map-request", {"kind": "embedding_map", "checkpoints": chosen, "rows": "all", **fields}, submitted
        )
        data = obtain(config, label="token map", key="explore-map", queue=queue)
        if data is not None:
            st.query_params["map"] = data.experiment_id
            try:
                frames = read_maps(data)
            except EmbedxferError as exc:
                show_error(exc)
                frames = []
            if frames:
                shared = "shared tokens" if len(frames) == 2 else "tokens"
                panels = [(f"{name} ({len(frame):,} {shared})", frame) for name, frame in frames]
                left, mid, right = st.columns([2, 2, 3])
                how = left.radio("Colour by", COLOURINGS, key="explore-colour", horizontal=False)
                task = mid.selectbox("Task (for frequency)", tasks, key="explore-freq-task")
                query = right.text_input("Search a token", key="explore-search", placeholder="e.g. happy")
                try:
                    values, value_title = _colouring(frames, how, task)
                except EmbedxferError as exc:
                    show_error(exc)
                    values, value_title = None, ""
                surface = _neighbours([name for name, _ in frames], query) if query.strip() else None
                fig = plot_token_maps(
                    panels,
                    values=values,
                    value_title=value_title,
                    highlight=surface,
                    title=f"{data.experiment_id}: {config['method']} map of the token embeddings",
                )
                st.plotly_chart(fig, key="explore-token-map")
                _downloads("explore-map", frames, fig, f"{data.experiment_id}-token-map")

if tabs[1].open:
    with tabs[1]:
        from embedxfer.results import build_figure

        with st.form("explore-sim-form", border=False):
            chosen = st.multiselect("Checkpoints (two or more)", checkpoints, checkpoints[:3], key="explore-sim-ckpts")
            k = st.number_input("k for kNN overlap", 1, 100, 10, key="explore-sim-k")
            submitted = st.form_submit_button("Compare", icon=":material/compare_arrows:")
        config, queue = _request(
            "explore-sim-request",
            {"kind": "embedding_similarity", "checkpoints": chosen, "k": int(k), "seeds": [0]},
            submitted,
        )
        data = obtain(config, label="comparison", key="explore-sim", queue=queue)
        if data is not None:
            st.plotly_chart(build_figure(data, "similarity"), key="explore-sim-fig")
            columns = [
                c
                for c in data.completed().columns
                if c in ("condition", "shared_tokens", "procrustes_width")
                or c.startswith(("cka", "knn_overlap", "procrustes_residual"))
            ]
            st.dataframe(data.completed()[columns], hide_index=True)

if tabs[2].open:
    with tabs[2]:
        from embedxfer.results import build_figure

        with st.form("explore-layer-form", border=False):
            cols = st.columns(3)
            checkpoint = cols[0].selectbox("Checkpoint", checkpoints, key="explore-layer-ckpt")
            task = cols[1].selectbox("Task", tasks, key="explore-layer-task")
            examples = cols[2].number_input("Examples", 10, 20_000, 1000, key="explore-layer-n")
            fields = _method_fields("explore-layer")
            submitted = st.form_submit_button("Show layer maps", icon=":material/layers:")
        config, queue = _request(
            "explore-layer-request",
            {"kind": "layer_map", "checkpoint": checkpoint, "task": task, "examples": int(examples), **fields},
            submitted,
        )
        data = obtain(config, label="layer maps", key="explore-layer", queue=queue)
        if data is not None:
            st.plotly_chart(build_figure(data, "layer_map"), key="explore-layer-fig")
            st.plotly_chart(build_figure(data, "label_agreement"), key="explore-layer-agreement")
