"""Board: figures from any stored experiments side by side, in 2-4 columns.

The board lives in the URL (``?board=<experiment>:<figure>,...&cols=2``), so a refresh or a copied
link restores it; the whole board downloads as one self-contained HTML file.
"""

import streamlit as st

from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.results import build_figure, figures_for
from embedxfer.results.board import DEFAULT_COLS, BoardItem, board_html, format_board, parse_board, parse_cols
from embedxfer.results.claims import claims_for, claims_summary
from embedxfer.results.layer_view import JOIN, LAYER_VIEW, has_layer_curve, layer_view_figure
from ui import services
from ui.common import PAGE_NEW, PAGE_RUNS, experiment_label, show_error
from ui.results import BOARD_MEMORY, data_for


def save(items: list[BoardItem]) -> None:
    if items:
        st.query_params["board"] = format_board(items)
    else:
        st.query_params.pop("board", None)
    st.rerun()


def layer_view_tile(item: BoardItem, experiments: dict[str, dict]) -> tuple[str, object | None, str]:
    """(caption, figure or None, why not) for a Layer view: its experiments' per-layer curves on one axis."""
    caption = f"Layer view · {', '.join(item.experiment_ids)}"
    found = []
    for experiment_id in item.experiment_ids:
        try:
            found.append(experiments.get(experiment_id) or services.store().get_experiment(experiment_id))
        except StoreError:
            return caption, None, f"Experiment {experiment_id} is not in this store (deleted?)."
    try:
        return caption, layer_view_figure([data_for(exp) for exp in found]), ""
    except EmbedxferError as exc:
        return caption, None, str(exc)


def tile(item: BoardItem, experiments: dict[str, dict]) -> tuple[str, object | None, str]:
    """(caption, figure or None, why not) for one board entry."""
    if item.figure == LAYER_VIEW:
        return layer_view_tile(item, experiments)
    exp = experiments.get(item.experiment_id)
    if exp is None:
        try:
            exp = services.store().get_experiment(item.experiment_id)
        except StoreError:
            return item.key(), None, f"Experiment {item.experiment_id} is not in this store (deleted?)."
    titles = {spec.name: spec.title for spec in figures_for(exp["kind"])}
    caption = f"{exp['name'] or item.experiment_id} · {titles.get(item.figure, item.figure)}"
    if item.figure not in titles:
        return caption, None, f"Kind {exp['kind']} has no figure {item.figure!r}."
    try:
        return caption, build_figure(data_for(exp), item.figure), ""
    except EmbedxferError as exc:
        return caption, None, str(exc)


st.title("Board")
items, bad = parse_board(st.query_params.get("board"))
st.session_state[BOARD_MEMORY] = format_board(items)
if bad:
    st.warning(f"Ignored board entries that are not <experiment>:<figure>: {', '.join(bad)}")

try:
    stored = services.store().list_experiments(limit=200)
except StoreError as exc:
    show_error(exc)
    stored = []
by_id = {exp["experiment_id"]: exp for exp in stored}


def picker(items: list[BoardItem], by_id: dict[str, dict]) -> None:
    """Experiment and figure select boxes and an Add button. Experiments whose kind draws figures come first, the
    one last added to the board leading (its other figures are the likeliest next pick)."""
    cols = st.columns([4, 3, 1], vertical_alignment="bottom")
    last = [items[-1].experiment_id] if items and items[-1].experiment_id in by_id else []
    drawable = [e for e in by_id if figures_for(by_id[e]["kind"])]
    options = list(dict.fromkeys(last + drawable + list(by_id)))
    chosen = cols[0].selectbox(
        "Experiment", options, key="board-experiment", format_func=lambda e: experiment_label(by_id[e])
    )
    specs = figures_for(by_id[chosen]["kind"]) if chosen else []
    figure = cols[1].selectbox(
        "Figure",
        [s.name for s in specs],
        key="board-figure",
        format_func=lambda n: next((s.title for s in specs if s.name == n), n),
    )
    if cols[2].button("Add", key="board-add", disabled=not figure, type="primary"):
        item = BoardItem(chosen, figure)
        save(items + ([item] if item not in items else []))
    if chosen and not specs:
        st.caption(f"Kind {by_id[chosen]['kind']} has no figures yet.")


def board_claims(items: list[BoardItem], experiments: dict[str, dict]) -> None:
    """One row per experiment on the board whose kind declares claims, a column per claim: its verdict."""
    found = []
    for experiment_id in dict.fromkeys(e for item in items for e in item.experiment_ids):
        exp = experiments.get(experiment_id)
        if exp is not None and claims_for(exp["kind"]):
            try:
                found.append(data_for(exp))
            except EmbedxferError:
                continue
    if found:
        st.markdown(
            "**Claims on this board** (each paper's findings checked on the run's own data; details on its run page)"
        )
        st.dataframe(claims_summary(found), hide_index=True, width="stretch", key="board-claims")


def layer_view_picker(items: list[BoardItem], by_id: dict[str, dict]) -> None:
    """Experiments with a per-layer curve (probing, layer_reinit, layer_similarity, stitching) into one Layer view:
    their curves stacked on one hidden-state axis. Pick experiments of the same checkpoint (A)."""
    layered = [e for e in by_id if has_layer_curve(by_id[e]["kind"])]
    if not layered:
        st.caption("No probing, layer_reinit, layer_similarity or stitching experiment stored yet.")
        return
    cols = st.columns([7, 1], vertical_alignment="bottom")
    chosen = cols[0].multiselect(
        "Layer view: experiments on one hidden-state axis (same checkpoint as A)",
        layered,
        key="board-layer-view",
        format_func=lambda e: experiment_label(by_id[e]),
    )
    if cols[1].button("Add", key="board-add-layer-view", disabled=not chosen, type="primary"):
        item = BoardItem(JOIN.join(chosen), LAYER_VIEW)
        save(items + ([item] if item not in items else []))


@st.dialog("Add a figure to the board", width="large")
def picker_dialog(items: list[BoardItem], by_id: dict[str, dict]) -> None:
    picker(items, by_id)
    layer_view_picker(items, by_id)


if not stored:
    st.info("No experiments stored yet. Run one first; then pick its figures here to compare them side by side.")
    st.page_link(PAGE_NEW, label="New experiment", icon=":material/science:")
elif not items:
    with st.container(border=True):
        picker(items, by_id)
        layer_view_picker(items, by_id)

toolbar = st.columns([1, 3], vertical_alignment="bottom")
# With figures on the board the picker waits in a dialog: its select boxes are a component of their own for the
# browser to load, and a board is opened (from a shared link, a refresh) far more often than it is edited.
if stored and items and toolbar[0].button("Add a figure", key="board-open-picker", icon=":material/add_chart:"):
    picker_dialog(items, by_id)
n_cols = parse_cols(st.query_params.get("cols"))
picked = toolbar[1].segmented_control("Columns", [2, 3, 4], default=n_cols, key="board-cols") or DEFAULT_COLS
if str(picked) != st.query_params.get("cols"):
    st.query_params["cols"] = str(picked)

if not items:
    st.info(
        "The board is empty. Pick an experiment and one of its figures above and press Add (or use “Add to "
        "board” under a figure on the runs page). The board is kept in the URL: bookmark or share it."
    )
else:
    tiles = [tile(item, by_id) for item in items]
    for start in range(0, len(items), picked):
        row = st.columns(picked)
        for offset, column in enumerate(row):
            index = start + offset
            if index >= len(items):
                break
            caption, fig, note = tiles[index]
            with column.container(border=True):
                st.caption(caption)
                if fig is None:
                    st.warning(note)
                else:
                    st.plotly_chart(fig, key=f"board-fig-{index}")
                left, right = st.columns(2, vertical_alignment="center")  # the link is shorter than the button
                first = items[index].experiment_ids[0]
                left.page_link(PAGE_RUNS, label="Open run", query_params={"experiment": first})
                if right.button("Remove", key=f"board-remove-{index}", icon=":material/close:"):
                    save([it for i, it in enumerate(items) if i != index])
    board_claims(items, by_id)
    cols = st.columns([2, 1, 3])
    cols[0].download_button(
        "Download board (HTML)",
        lambda: board_html(tiles, picked),
        file_name="embedxfer-board.html",
        mime="text/html",
        key="board-download",
        on_click="ignore",
        icon=":material/download:",
    )
    if cols[1].button("Clear board", key="board-clear"):
        save([])
