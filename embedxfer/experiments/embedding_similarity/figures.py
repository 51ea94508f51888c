"""embedding_similarity's figure: each measure with its shuffled reference (bars for a pair, matrices for more)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData


def similarity(data: ExperimentData) -> go.Figure:
    from embedxfer.map_plots import plot_similarity

    done = data.completed()
    if done.empty:
        raise EmbedxferError(f"{data.experiment_id} has no finished comparison yet.")
    k = data.result["config"].get("k", 10)
    return plot_similarity(
        done,
        data.result["config"]["checkpoints"],
        title=f"{data.experiment_id}: token-embedding similarity over shared vocabularies (kNN k={k})",
    )


FIGURES = (FigureSpec("similarity", "Similarity with shuffled references", similarity),)
