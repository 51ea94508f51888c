"""A run's claims: each of its kind's declared findings (ExperimentKind.claims) evaluated on the run's own data,
as rows for `show`, `show --json`, the run page's Claims tab and the HTML report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import get_kind
from embedxfer.results.summary import json_number

if TYPE_CHECKING:
    import pandas as pd

    from embedxfer.experiments.outputs import ClaimSpec, ExperimentData

#: the Claims table's columns, in the order the run page, `show` and the report show them
CLAIM_COLUMNS = ("claim", "scope", "this run", "verdict", "published", "rule", "source")


def claims_for(kind: str) -> list[ClaimSpec]:
    """The claims kind `kind` declares (none for a kind that is not installed)."""
    try:
        return list(get_kind(kind).claims)
    except EmbedxferError:
        return []


def claim_rows(data: ExperimentData) -> list[dict[str, Any]]:
    """One row per claim and scope: the statement, the paired value [95% CI] n the rule read, the verdict and what
    was compared (or what to add when the run cannot test it). JSON-ready (NaN -> None)."""
    rows = []
    for spec in claims_for(data.kind):
        for result in spec.evaluate(data):
            rows.append(
                {
                    "name": spec.name,
                    "statement": spec.statement,
                    "source": spec.source,
                    "published": spec.published,
                    "rule": spec.rule,
                    "scope": result.scope,
                    "value": json_number(result.value),
                    "ci_low": json_number(result.low),
                    "ci_high": json_number(result.high),
                    "n": result.n,
                    "verdict": result.verdict,
                    "detail": result.detail,
                }
            )
    return rows


def this_run(row: dict[str, Any]) -> str:
    """'-0.083 [-0.12, -0.046] n=3', 'n=1, no interval', or what a run that cannot test the claim must add."""
    from embedxfer.stats import format_ci

    if row["verdict"] == "not tested":
        return row["detail"]
    if row["value"] is None:  # a rule that compares positions (argmaxes), not a paired value
        return f"{row['detail']} (n={row['n']})"
    value = f"{row['value']:+.4g} "
    interval = format_ci(row["ci_low"], row["ci_high"], row["n"], "+.4g")
    shown = f"{value}{interval}" + (f" n={row['n']}" if row["ci_low"] is not None else "")
    return f"{shown} ({row['detail']})" if row["detail"] else shown


def claims_table(data: ExperimentData) -> pd.DataFrame:
    """The Claims tab and report table: statement, scope, this run's value, verdict, published value, rule."""
    import pandas as pd

    rows = [
        {
            "claim": row["statement"],
            "scope": row["scope"],
            "this run": this_run(row),
            "verdict": row["verdict"],
            "published": row["published"] or "curves only (no number)",
            "rule": row["rule"],
            "source": row["source"],
        }
        for row in claim_rows(data)
    ]
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def claims_summary(experiments: list[ExperimentData]) -> pd.DataFrame:
    """The Board's claims summary: one row per experiment, one column per claim, each cell its verdict (several
    scopes: 'supported 2, inconclusive 1'); empty when no experiment's kind declares claims."""
    from collections import Counter

    import pandas as pd

    rows = []
    for data in experiments:
        results = claim_rows(data)
        if not results:
            continue
        row = {"experiment": data.result.get("name") or data.experiment_id, "kind": data.kind}
        for name in dict.fromkeys(r["name"] for r in results):
            counts = Counter(r["verdict"] for r in results if r["name"] == name)
            several = ", ".join(f"{verdict} {n}" for verdict, n in counts.items())
            row[name] = next(iter(counts)) if len(counts) == 1 else several
        rows.append(row)
    return pd.DataFrame(rows)
