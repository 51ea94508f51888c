"""Pure functions that shape store rows: trial dicts, the derived experiment status, the per-trial metrics
frame and the public experiment JSON (DESIGN.md, "Public interfaces")."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from embedxfer.stats import mean_interval

_TRIAL_KEYS = (
    "trial_id", "experiment_id", "idx", "condition", "seed", "params", "status", "step", "total_steps", "error",
    "started_at", "finished_at", "owner_pid", "owner_host", "device", "cancel_requested",
)  # fmt: skip
_FRAME_BASE = ("trial_id", "idx", "condition", "seed", "status", "error")


def parse_trial(row: Sequence[Any]) -> dict[str, Any]:
    """A trials row (in `_TRIAL_KEYS` order) as a dict with params decoded."""
    trial = dict(zip(_TRIAL_KEYS, row, strict=True))
    trial["params"] = json.loads(trial["params"] or "{}")
    trial["cancel_requested"] = bool(trial["cancel_requested"])
    return trial


def experiment_status(counts: dict[str, int]) -> str:
    """The experiment status from its trial status counts (rules in the `embedxfer.store` docstring)."""
    has = {status for status, n in counts.items() if n}
    for status in ("running", "queued", "interrupted", "cancelled"):
        if status in has:
            return status
    if not has or has == {"completed"}:
        return "completed"
    return "partial" if "completed" in has else "failed"


def mentions(config: Any, value: str, key_part: str | None = None, _key: str = "") -> bool:
    """Whether `value` appears as a string anywhere in `config` (under a key containing `key_part`, if given)."""
    if isinstance(config, dict):
        return any(mentions(v, value, key_part, str(k)) for k, v in config.items())
    if isinstance(config, list | tuple):
        return any(mentions(v, value, key_part, _key) for v in config)
    return config == value and (key_part is None or key_part in _key.lower())


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value)  # hashable, so it can define a group
        else:
            flat[name] = value
    return flat


def metrics_frame(trials: list[dict[str, Any]], metrics: dict[str, dict[str, float | None]]) -> Any:
    """One row per trial: base columns, flattened params, one column per metric (NaN where missing)."""
    import pandas as pd

    metric_names = sorted({name for values in metrics.values() for name in values})
    records, param_cols = [], []
    for trial in trials:
        record = {key: trial[key] for key in _FRAME_BASE}
        for key, value in _flatten(trial["params"]).items():
            column = f"param.{key}" if key in _FRAME_BASE or key in metric_names else key
            record[column] = value
            if column not in param_cols:
                param_cols.append(column)
        for name in metric_names:
            value = metrics.get(trial["trial_id"], {}).get(name)
            record[name] = math.nan if value is None else value
        records.append(record)
    return pd.DataFrame(records, columns=[*_FRAME_BASE, *param_cols, *metric_names])


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/inf are not JSON
    return value


def _group_params(kind: str) -> tuple[tuple[str, ...], str | None]:
    from embedxfer.errors import EmbedxferError
    from embedxfer.experiments.base import get_kind

    try:
        spec = get_kind(kind)
    except EmbedxferError:  # a kind from a plugin that is no longer installed: still show its results
        return (), None
    return tuple(spec.group_params), spec.primary_metric


def experiment_json(
    experiment: dict[str, Any], trials: list[dict[str, Any]], metrics: dict[str, dict[str, float | None]]
) -> dict[str, Any]:
    """{experiment_id, kind, status, config, trials[... metrics, error], summary[...]} from the experiment, trials and
    {trial_id: {metric: value}}. Summary: mean and 95% t-interval over the completed trials of each (condition,
    group params of the kind) per metric; NaN/inf become null."""
    trial_items = [
        {
            "trial_id": t["trial_id"],
            "condition": t["condition"],
            "seed": t["seed"],
            "params": t["params"],
            "status": t["status"],
            "metrics": {k: _json_number(v) for k, v in metrics.get(t["trial_id"], {}).items()},
            "error": t["error"],  # null unless failed / diverged / cancelled / interrupted
        }
        for t in trials
    ]
    group_params, primary = _group_params(experiment["kind"])
    names = sorted({name for values in metrics.values() for name in values}, key=lambda m: (m != primary, m))
    groups: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {}
    for trial in trials:
        if trial["status"] != "completed":
            continue
        params = {p: trial["params"].get(p) for p in group_params}
        key = json.dumps([trial["condition"], params], sort_keys=True, default=str)
        groups.setdefault(key, (trial["condition"], params, []))[2].append(metrics.get(trial["trial_id"], {}))
    summary = []
    for condition, params, rows in groups.values():
        for name in names:
            interval = mean_interval([r.get(name) for r in rows], method="t")
            if interval.n:
                values = {k: _json_number(v) for k, v in interval.to_dict().items()}
                summary.append({"condition": condition, "params": params, "metric": name, **values})
    return {
        "experiment_id": experiment["experiment_id"], "kind": experiment["kind"], "status": experiment["status"],
        "config": experiment["config"], "trials": trial_items, "summary": summary,
    }  # fmt: skip
