"""Everything a figure builder or an export needs about one experiment, read from the store at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embedxfer.results.public import snapshot_json
from embedxfer.results.summary import primary_metric

if TYPE_CHECKING:
    import pandas as pd

    from embedxfer.store import Store


@dataclass
class ExperimentData:
    """One experiment's results: the public JSON, a per-trial frame, per-step metrics and its primary metric."""

    result: dict[str, Any]  # the JSON of `embedxfer show --json`
    trials: pd.DataFrame  # one row per trial: condition, seed, status, params..., metrics...
    steps: pd.DataFrame  # long format: trial_id, condition, seed, step, name, value
    primary_metric: str  # e.g. test_accuracy; the kind decides (embedxfer.results.summary)
    #: the store folder the trials' artifacts live in (maps, curves); a path, so the data stays picklable
    store_root: str | None = None

    @property
    def kind(self) -> str:
        return self.result["kind"]

    @property
    def experiment_id(self) -> str:
        return self.result["experiment_id"]

    def completed(self) -> pd.DataFrame:
        return self.trials[self.trials["status"] == "completed"] if not self.trials.empty else self.trials

    def artifact(self, trial_id: str, name: str) -> bytes:
        """A stored artifact of one of this experiment's trials (figures of the explorer kinds read their maps)."""
        from embedxfer.store import Store

        if self.store_root is None:
            raise ValueError(f"experiment {self.experiment_id}: no store to read artifact {name!r} from")
        return Store(self.store_root).read_artifact(trial_id, name)


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
    )
