"""What turns stored rows into answers: the one summary (and primary metric) of an experiment, its public JSON,
the data figure builders read, the figure lookup, exports, boards and the HTML pages they are written as.

`plots` and `stats` (pure functions) draw and compute; this package decides what to draw and compute for a
stored experiment. It reads the store and never writes it.
"""

from embedxfer.results.data import ExperimentData, load_experiment_data
from embedxfer.results.figures import FigureSpec, build_figure, figures_for
from embedxfer.results.public import experiment_json, snapshot_json
from embedxfer.results.summary import primary_metric, summarize_trials, summary_table

__all__ = [
    "ExperimentData",
    "FigureSpec",
    "build_figure",
    "experiment_json",
    "figures_for",
    "load_experiment_data",
    "primary_metric",
    "snapshot_json",
    "summarize_trials",
    "summary_table",
]
