"""Everything a figure builder or an export needs about one experiment, read from the store at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.outputs import ExperimentData
from embedxfer.results.public import snapshot_json
from embedxfer.results.summary import group_params, primary_metric

if TYPE_CHECKING:
    from embedxfer.store import Store


def load_experiment_data(store: Store, experiment_id: str) -> ExperimentData:
    snapshot = store.snapshot(experiment_id)
    available = {name for values in snapshot.metrics.values() for name in values}
    experiment = snapshot.experiment
    return ExperimentData(
        result=snapshot_json(snapshot),
        trials=snapshot.metrics_frame(),
        steps=store.experiment_step_metrics(experiment_id),
        primary_metric=primary_metric(experiment["kind"], experiment["config"], available),
        store_root=str(store.root),
        group_params=group_params(experiment["kind"]),
    )
