"""Which figures each experiment kind offers, built from stored results.

Kinds register named figure builders here; the runs page, the board and the CLI export all
list and build figures through this one registry, so a new kind's plots appear everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from embedxfer.errors import StoreError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from embedxfer.store import Store


@dataclass
class ExperimentData:
    """Everything a figure builder may need about one experiment."""

    result: dict[str, Any]  # the JSON of `embedxfer show --json`
    trials: pd.DataFrame  # one row per trial: condition, seed, status, params..., metrics...
    steps: pd.DataFrame  # long format: trial_id, condition, seed, step, name, value

    @property
    def kind(self) -> str:
        return self.result["kind"]

    @property
    def experiment_id(self) -> str:
        return self.result["experiment_id"]

    def completed(self) -> pd.DataFrame:
        return self.trials[self.trials["status"] == "completed"] if not self.trials.empty else self.trials

    def primary_metric(self) -> str:
        """The first test metric present (test_accuracy, test_pearson, ...)."""
        names = [c for c in self.trials.columns if str(c).startswith("test_") and c != "test_loss"]
        return names[0] if names else "test_accuracy"


@dataclass(frozen=True)
class FigureSpec:
    kind: str
    name: str
    title: str
    build: Callable[[ExperimentData], go.Figure]


_FIGURES: dict[str, dict[str, FigureSpec]] = {}


def register_figure(kind: str, name: str, title: str):
    """Decorator: register `fn(data) -> Figure` as figure `name` of experiment kind `kind`."""

    def wrap(fn: Callable[[ExperimentData], go.Figure]) -> Callable[[ExperimentData], go.Figure]:
        specs = _FIGURES.setdefault(kind, {})
        if name in specs:
            raise ValueError(f"figure {name!r} is already registered for kind {kind!r}")
        specs[name] = FigureSpec(kind, name, title, fn)
        return fn

    return wrap


def figures_for(kind: str) -> list[FigureSpec]:
    _load_builtin_figures()
    return list(_FIGURES.get(kind, {}).values())


def load_experiment_data(store: Store, experiment_id: str) -> ExperimentData:
    result = store.experiment_json(experiment_id)
    trials = store.final_metrics_frame(experiment_id)
    steps = store.experiment_step_metrics(experiment_id)
    return ExperimentData(result=result, trials=trials, steps=steps)


def build_figure(data: ExperimentData, name: str) -> go.Figure:
    for spec in figures_for(data.kind):
        if spec.name == name:
            fig = spec.build(data)
            if not fig.layout.title.text:
                fig.update_layout(title=spec.title)
            return fig
    known = ", ".join(s.name for s in figures_for(data.kind)) or "none"
    raise StoreError(f"Experiment kind {data.kind!r} has no figure {name!r}; available: {known}.")


def _load_builtin_figures() -> None:
    # Each kind's figures live next to the generic ones below; importing registers them.
    from embedxfer import figures_builtin  # noqa: F401
