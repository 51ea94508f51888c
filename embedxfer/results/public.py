"""The public JSON of one experiment, as `embedxfer show --json` and `run --json` print it
(docs/architecture.md, "Public interfaces"):

    {"experiment_id", "kind", "status", "config",
     "trials": [{"trial_id", "condition", "seed", "params", "status", "metrics", "error", "backend",
                 "reused_from"}],
     "summary": [{"condition", "params", "metric", "mean", "ci_low", "ci_high", "n"}]}

ci_low and ci_high are null where n is 1: one seed gives a mean and no interval.
"""

from __future__ import annotations

from typing import Any

from embedxfer.results.summary import group_params, json_number, primary_metric, summarize_trials
from embedxfer.store import Snapshot, Store


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    """The public JSON of a store snapshot; NaN/inf metrics become null."""
    experiment, trials, metrics = snapshot.experiment, snapshot.trials, snapshot.metrics
    trial_items = [
        {
            "trial_id": t["trial_id"],
            "condition": t["condition"],
            "seed": t["seed"],
            "params": t["params"],
            "status": t["status"],
            "metrics": {k: json_number(v) for k, v in metrics.get(t["trial_id"], {}).items()},
            "error": t["error"],  # null unless failed / diverged / cancelled / interrupted
            "backend": t.get("backend"),  # thread | ray; null for a trial that never started
            "reused_from": t.get("reused_from"),  # the completed trial whose results it holds; null when it ran
        }
        for t in trials
    ]
    available = {name for values in metrics.values() for name in values}
    primary = primary_metric(experiment["kind"], experiment["config"], available)
    summary = summarize_trials(trials, metrics, group_by=group_params(experiment["kind"]), primary=primary)
    return {
        "experiment_id": experiment["experiment_id"],
        "kind": experiment["kind"],
        "status": experiment["status"],
        "config": experiment["config"],
        "trials": trial_items,
        "summary": summary,
    }


def experiment_json(store: Store, experiment_id: str) -> dict[str, Any]:
    """The public JSON of a stored experiment."""
    return snapshot_json(store.snapshot(experiment_id))
