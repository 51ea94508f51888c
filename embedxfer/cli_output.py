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


def print_result(store: Any, experiment_id: str, as_json: bool) -> dict[str, Any]:
    """Print a stored experiment (`show` and the end of `run`): its JSON, or its trials and summary followed by
    the kind's paired comparisons when it has any. The store is read once: the comparisons' ExperimentData carries
    the same JSON. Returns that JSON."""
    from embedxfer.errors import EmbedxferError
    from embedxfer.experiments import get_kind
    from embedxfer.results import experiment_json, load_experiment_data

    try:
        kind = get_kind(store.get_experiment(experiment_id)["kind"])
        paired, claims = (None if as_json else kind.paired), bool(kind.claims)
    except EmbedxferError:  # a kind that is not installed: its rows still print
        paired, claims = None, False
    data = load_experiment_data(store, experiment_id) if paired or claims else None
    result = data.result if data is not None else experiment_json(store, experiment_id)
    if claims:
        from embedxfer.results.claims import claim_rows

        result = {**result, "claims": claim_rows(data)}
    if as_json:
        print_json(result)
        return result
    print_experiment(result)
    frame = paired(data) if paired else None
    if frame is not None and not frame.empty:
        from embedxfer.results.summary import with_interval_text

        print("\npaired comparisons (difference per seed, mean and 95% interval)")
        shown = with_interval_text(frame, fmt)  # one paired seed: "n=1, no interval", never [x, x]
        rows = [
            {k: fmt(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in shown.to_dict(orient="records")
        ]
        print_table(rows, list(shown.columns))
    if result.get("claims"):
        print_claims(result["claims"])
    return result


def print_claims(rows: list[dict[str, Any]]) -> None:
    """The claims section of `show`: per claim and scope, the verdict and this run's value; each rule once."""
    from embedxfer.results.claims import this_run

    print("\nclaims (the papers' findings checked on this run's data; rules below)")
    print_table(
        [{"verdict": r["verdict"], "claim": r["name"], "scope": r["scope"], "this run": this_run(r)} for r in rows],
        ["verdict", "claim", "scope", "this run"],
    )
    for name, rule in dict((r["name"], f"{r['statement']} Rule: {r['rule']}") for r in rows).items():
        print(f"  {name}: {rule}")


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
            "backend": t.get("backend") or "",
            "reused from": t.get("reused_from") or "",
            "error": t.get("error") or "",
        }
        for t in result["trials"]
    ]
    metric_names = sorted({k for t in result["trials"] for k in (t.get("metrics") or {})})
    # the backend column only when some trial ran on Ray: a plain thread run looks as it always did
    ray_ran = any(t.get("backend") == "ray" for t in result["trials"])
    columns = ["trial", "condition", "seed", *(["group"] if grouped else []), "status", *metric_names]
    reused = any(t.get("reused_from") for t in result["trials"])  # likewise the source column
    columns += [*(["backend"] if ray_ran else []), *(["reused from"] if reused else []), "error"]
    print_table(trials, columns)
    if result["summary"]:
        from embedxfer.results.summary import primary_metric, shown_in_summary
        from embedxfer.stats import format_ci

        primary = primary_metric(result["kind"], result["config"])
        print("\nsummary (mean and 95% interval over seeds)")
        rows = [
            {
                "condition": s["condition"],
                "params": json.dumps(s["params"]) if s["params"] else "",
                "metric": s["metric"],
                "mean": fmt(s["mean"]),
                "95% CI": format_ci(s["ci_low"], s["ci_high"], s["n"], fmt),  # n=1: "n=1, no interval"
                "n": s["n"],
            }
            for s in result["summary"]
            if shown_in_summary(result["kind"], s["metric"], primary) or s["metric"] == "train_loss"
        ]
        print_table(rows, ["condition", "params", "metric", "mean", "95% CI", "n"])


def fmt_duration(seconds: float | None) -> str:
    """A rough duration: 40 s, 3 min, 1.5 h."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fmt(value: Any) -> str:
    """A number as the CLI's tables print it: whole floats of at least 1 as ints, other floats to 4 decimals."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))  # step and parameter counts
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_checkpoints(rows: list[dict[str, Any]]) -> None:
    """The checkpoint catalog as a table (a row as `embedxfer checkpoints --json` gives it); under it why an
    unavailable one cannot be used and, for each checkpoint some kind cannot run, the kinds it runs and, one line
    each, why the others do not (`row["kinds"]`: kind -> None or the reason)."""
    from embedxfer.experiments.serves import served_kinds

    shown = [
        {
            **r,
            "params": f"{r['num_parameters'] / 1e6:.1f}M" if "num_parameters" in r else "-",
            "kinds": f"{len(served_kinds(r['kinds']))}/{len(r['kinds'])}" if r.get("kinds") else "-",
        }
        for r in rows
    ]
    columns = ["id", "family", "num_layers", "hidden_size", "num_heads", "ffn_size", "vocab_size", "tokenizer_kind"]
    print_table(shown, [*columns, "params", "kinds", "available"])
    for r in rows:
        if not r["available"]:
            print(f"\n{r['id']}: {r['reason']}")
    for row in rows:
        support = row.get("kinds") or {}
        refused = [why for why in support.values() if why]
        if refused:
            print(f"\n{row['id']} runs {', '.join(served_kinds(support))}; not:")
            for why in refused:
                print(f"  - {why}")
