"""How the CLI prints: JSON, aligned text tables, an experiment's trials and summary, and a kind's paired
comparisons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def print_paired(store: Any, experiment_id: str, kind_name: str) -> None:
    """The kind's paired comparisons (if it has any and a trial completed), under the summary."""
    from embedxfer.errors import EmbedxferError
    from embedxfer.experiments import get_kind
    from embedxfer.results import load_experiment_data

    try:
        kind = get_kind(kind_name)
    except EmbedxferError:
        return
    if kind.paired is None:
        return
    frame = kind.paired(load_experiment_data(store, experiment_id))
    if frame.empty:
        return
    print("\npaired comparisons (difference per seed, mean and 95% interval)")
    rows = [
        {k: fmt(v) if isinstance(v, float) else v for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
    print_table(rows, list(frame.columns))


def print_experiment(result: dict[str, Any]) -> None:
    from embedxfer.results.summary import group_params

    print(f"experiment {result['experiment_id']}  kind={result['kind']}  status={result['status']}")
    grouped = group_params(result["kind"])  # e.g. train_size and layer: which point of a curve a trial is
    trials = [
        {
            "trial": t["trial_id"],
            "condition": t["condition"],
            "seed": t["seed"],
            "group": " ".join(f"{p}={t['params'][p]}" for p in grouped if p in t["params"]),
            "status": t["status"],
            **{k: fmt(v) for k, v in (t.get("metrics") or {}).items()},
            "error": t.get("error") or "",
        }
        for t in result["trials"]
    ]
    metric_names = sorted({k for t in result["trials"] for k in (t.get("metrics") or {})})
    columns = ["trial", "condition", "seed", *(["group"] if grouped else []), "status", *metric_names, "error"]
    print_table(trials, columns)
    if result["summary"]:
        from embedxfer.results.summary import primary_metric, shown_in_summary

        primary = primary_metric(result["kind"], result["config"])
        print("\nsummary (mean and 95% interval over seeds)")
        rows = [
            {
                "condition": s["condition"],
                "params": json.dumps(s["params"]) if s["params"] else "",
                "metric": s["metric"],
                "mean": fmt(s["mean"]),
                "95% CI": f"[{fmt(s['ci_low'])}, {fmt(s['ci_high'])}]",
                "n": s["n"],
            }
            for s in result["summary"]
            if shown_in_summary(result["kind"], s["metric"], primary) or s["metric"] == "train_loss"
        ]
        print_table(rows, ["condition", "params", "metric", "mean", "95% CI", "n"])


def fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))  # step and parameter counts
    return f"{value:.4f}" if isinstance(value, float) else str(value)
