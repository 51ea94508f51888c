"""Pure functions that shape store rows: trial ids and dicts, config mentions and the per-trial metrics frame."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

_TRIAL_KEYS = (
    "trial_id",
    "experiment_id",
    "idx",
    "condition",
    "seed",
    "params",
    "status",
    "step",
    "total_steps",
    "error",
    "started_at",
    "finished_at",
    "owner_pid",
    "owner_host",
    "device",
    "cancel_requested",
    "backend",
    "reused_from",
)
_FRAME_BASE = ("trial_id", "idx", "condition", "seed", "status", "error", "reused_from")
#: The trials columns in `_TRIAL_KEYS` order, for SELECTs.
TRIAL_COLUMNS = (
    "id, experiment_id, idx, condition, seed, params, status, step, total_steps, error, started_at, "
    "finished_at, owner_pid, owner_host, device, cancel_requested, backend, reused_from"
)


def trial_id_for(experiment_id: str, idx: int) -> str:
    """Trial ids are the experiment id and the trial's index: ``<experiment_id>-t007``."""
    return f"{experiment_id}-t{idx:03d}"


def parse_trial(row: Sequence[Any]) -> dict[str, Any]:
    """A trials row (in `_TRIAL_KEYS` order) as a dict with params decoded."""
    trial = dict(zip(_TRIAL_KEYS, row, strict=True))
    trial["params"] = json.loads(trial["params"] or "{}")
    trial["cancel_requested"] = bool(trial["cancel_requested"])
    return trial


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
